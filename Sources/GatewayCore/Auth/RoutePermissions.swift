/// `require_claims` and `require_scopes` of a route, checked against verified claims.
enum RoutePermissions {
    static func allows(_ claims: TokenClaims, route: Route) -> Bool {
        for requirement in route.requireClaims {
            guard let value = claims[requirement.name], matches(value, requirement.allowed) else { return false }
        }
        if !route.requireScopes.isEmpty {
            let granted = scopes(in: claims["scope"])
            for scope in route.requireScopes where !granted.contains(Substring(scope)) { return false }
        }
        return true
    }

    /// A claim equals one of the allowed values; an array claim passes when any element does.
    static func matches(_ value: JSONValue, _ allowed: [ClaimValue]) -> Bool {
        if case .array(let elements) = value {
            return elements.contains { matches($0, allowed) }
        }
        return allowed.contains { candidate -> Bool in
            switch (candidate, value) {
            case (.string(let a), .string(let b)): return a == b
            case (.integer(let a), .integer(let b)): return Int64(a) == b
            case (.integer(let a), .double(let b)): return Double(a) == b
            case (.bool(let a), .bool(let b)): return a == b
            default: return false
            }
        }
    }

    /// The `scope` claim: a space-separated string or an array of strings.
    static func scopes(in value: JSONValue?) -> Set<Substring> {
        switch value {
        case .string(let s)?:
            return Set(s.split(separator: " "))
        case .array(let list)?:
            return Set(list.compactMap { element -> Substring? in element.stringValue.map { Substring($0) } })
        default:
            return []
        }
    }
}
