import NIOHTTP1

/// What the `Authorization` header(s) of a request amount to (docs/http.md#route-auth, docs/http.md#error-bodies).
public enum BearerCredential: Sendable, Equatable {
    /// No Authorization header.
    case none
    /// Another scheme (`Basic …`, `Token …`): no bearer token at all.
    case otherScheme
    /// `Bearer` with no token or more than one.
    case malformed
    /// More than one Authorization header.
    case duplicated
    case token(Substring)

    public init(headers: HTTPHeaders) {
        var found: String?
        for (name, value) in headers where BearerCredential.isAuthorization(name) {
            if found != nil {
                self = .duplicated
                return
            }
            found = value
        }
        guard let value = found else {
            self = .none
            return
        }
        self = BearerCredential.parse(value)
    }

    /// `scheme SP token`, split on ASCII spaces/tabs over the bytes (the hot path: no Character work).
    static func parse(_ value: String) -> BearerCredential {
        enum Shape { case empty, otherScheme, malformed, token(start: Int, end: Int) }
        var value = value
        let shape = value.withUTF8 { bytes -> Shape in
            var i = 0
            while i < bytes.count, bytes[i].isASCIIBlank { i += 1 }
            let schemeStart = i
            while i < bytes.count, !bytes[i].isASCIIBlank { i += 1 }
            guard i > schemeStart else { return .empty }
            guard bytes[schemeStart..<i].equalsASCIIIgnoringCase("bearer") else { return .otherScheme }
            while i < bytes.count, bytes[i].isASCIIBlank { i += 1 }
            let tokenStart = i
            while i < bytes.count, !bytes[i].isASCIIBlank { i += 1 }
            let tokenEnd = i
            while i < bytes.count, bytes[i].isASCIIBlank { i += 1 }
            guard tokenStart != tokenEnd, i == bytes.count else { return .malformed }
            return .token(start: tokenStart, end: tokenEnd)
        }
        switch shape {
        // An empty header carries no credentials at all (simplejwt: no parts → not authenticated).
        case .empty: return .none
        case .otherScheme: return .otherScheme
        case .malformed: return .malformed
        case .token(let start, let end):
            let utf8 = value.utf8
            return .token(value[utf8.index(utf8.startIndex, offsetBy: start)..<utf8.index(utf8.startIndex, offsetBy: end)])
        }
    }

    /// `Authorization` in any case, compared over the bytes.
    static func isAuthorization(_ name: String) -> Bool {
        name.utf8.equalsASCIIIgnoringCase("authorization")
    }
}
