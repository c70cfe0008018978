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
        self = BearerCredential.parse(value)
    }

    /// `scheme SP token`, split on ASCII spaces/tabs over the bytes (the hot path: no Character work).
    static func parse(_ value: String) -> BearerCredential {
        let bytes = value.utf8
        func isSpace(_ b: UInt8) -> Bool { b == UInt8(ascii: " ") || b == UInt8(ascii: "\t") }
        var i = bytes.startIndex
        while i != bytes.endIndex, isSpace(bytes[i]) { i = bytes.index(after: i) }
        let schemeStart = i
        while i != bytes.endIndex, !isSpace(bytes[i]) { i = bytes.index(after: i) }
        let scheme = bytes[schemeStart..<i]
        // An empty header carries no credentials at all (simplejwt: no parts → not authenticated).
        guard !scheme.isEmpty else { return .none }
        guard scheme.count == 6, zip(scheme, "bearer".utf8).allSatisfy({ ($0 | 0x20) == $1 }) else { return .otherScheme }
        while i != bytes.endIndex, isSpace(bytes[i]) { i = bytes.index(after: i) }
        let tokenStart = i
        while i != bytes.endIndex, !isSpace(bytes[i]) { i = bytes.index(after: i) }
        let tokenEnd = i
        while i != bytes.endIndex, isSpace(bytes[i]) { i = bytes.index(after: i) }
        guard tokenStart != tokenEnd, i == bytes.endIndex else { return .malformed }
        return .token(value[tokenStart..<tokenEnd])
    }
}
