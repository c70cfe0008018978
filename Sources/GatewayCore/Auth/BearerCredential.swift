import NIOHTTP1

/// What the `Authorization` header(s) of a request amount to (SPEC §5.1, §5.2).
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
        for (name, value) in headers where name.utf8.count == 13 && name.lowercased() == "authorization" {
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
        let parts = value.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard let scheme = parts.first, scheme.lowercased() == "bearer" else {
            self = parts.isEmpty ? .malformed : .otherScheme
            return
        }
        guard parts.count == 2 else {
            self = .malformed
            return
        }
        self = .token(parts[1])
    }
}
