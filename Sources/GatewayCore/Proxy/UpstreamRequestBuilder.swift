import NIOHTTP1
import Synchronization

/// Shapes the request the upstream sees: the URL, end-to-end headers only, the client's identity headers removed,
/// X-Forwarded-* and X-Request-Id set, and auth's outcome turned into the identity headers the gateway vouches for
/// and the `Authorization` it forwards (docs/http.md#forwarding). Pure: no I/O.
struct UpstreamRequestBuilder: Sendable {
    /// `[headers]`: the identity header names (empty = not sent) and whether the token goes upstream.
    let identity: IdentityHeadersConfig
    /// Identity header names, normalised (lower case, `_` as `-`): removed from every client request.
    let identityHeaderKeys: [[UInt8]]

    init(headers: IdentityHeadersConfig) {
        self.identity = headers
        var keys: [[UInt8]] = []
        for key in headers.names.map(UpstreamRequestBuilder.normalizedKey) where !keys.contains(Array(key.utf8)) {
            keys.append(Array(key.utf8))
        }
        self.identityHeaderKeys = keys
    }

    /// `X-Auth_User-ID` → `x-auth-user-id`: how identity headers are compared, in any spelling.
    static func normalizedKey(_ name: String) -> String {
        String(decoding: name.utf8.map(UpstreamRequestBuilder.normalizedKeyByte), as: UTF8.self)
    }

    private static func normalizedKeyByte(_ b: UInt8) -> UInt8 {
        b == UInt8(ascii: "_") ? UInt8(ascii: "-") : b.asciiLowercased
    }

    /// Whether `name` is an identity header in any spelling (compared byte by byte: no copy per header).
    private func isIdentityHeader<Name: Collection<UInt8>>(_ name: Name) -> Bool {
        identityHeaderKeys.contains { key in
            key.count == name.count && zip(name, key).allSatisfy { UpstreamRequestBuilder.normalizedKeyByte($0) == $1 }
        }
    }

    struct Context {
        var clientAddress: String?
        var scheme = "http"
        /// What auth decided (never `denied`: a refused request goes nowhere).
        var auth = AuthOutcome.anonymous(keepsAuthorization: true)
        /// Host header for the upstream: "" = the client's Host.
        var configuredHost = ""
        /// The request's id (`RequestID.of`): sent upstream, answered to the client, logged.
        var requestID = ""
    }

    /// What the builder does with a client header.
    private enum ClientHeader {
        case host, framing, forwardedFor, forwardedOther, requestID, authorization, other, dropped
        /// Accept: its presence matters even when it is not forwarded (curl would add its own).
        case accept(forwarded: Bool)
    }

    /// Classifies a client header by its name in any case, over the name's bytes: by length first, so most
    /// names cost one or two comparisons and none is copied or hashed.
    private func classify(_ name: String, listed: [String]) -> ClientHeader {
        name.utf8.withContiguousStorageIfAvailable { classify($0, listed: listed) } ?? classify(Array(name.utf8), listed: listed)
    }

    private func classify<Name: Collection<UInt8>>(_ name: Name, listed: [String]) -> ClientHeader {
        let role: ClientHeader
        switch name.count {
        case 4 where name.equalsASCIIIgnoringCase("host"): return .host
        case 6 where name.equalsASCIIIgnoringCase("expect"): return .framing
        case 14 where name.equalsASCIIIgnoringCase("content-length"): return .framing
        case 15 where name.equalsASCIIIgnoringCase("x-forwarded-for"): return .forwardedFor
        case 16 where name.equalsASCIIIgnoringCase("x-forwarded-host"): return .forwardedOther
        case 17 where name.equalsASCIIIgnoringCase("x-forwarded-proto"): return .forwardedOther
        case 12 where name.equalsASCIIIgnoringCase("x-request-id"): return .requestID
        case 6 where name.equalsASCIIIgnoringCase("accept"): role = .accept(forwarded: true)
        case 13 where name.equalsASCIIIgnoringCase("authorization"): role = .authorization
        default:
            // `Content_Length`, `Transfer_Encoding`, `Host`-likes: some upstream servers (CGI-style, WSGI) read `_` as
            // `-` and would take these for the real framing or routing headers. Never forwarded.
            if name.contains(UInt8(ascii: "_")) && UpstreamRequestBuilder.isFramingLookalike(name) { return .dropped }
            role = .other
        }
        guard HopByHop.isHopByHop(name, listed: listed) || isIdentityHeader(name) else { return role }
        if case .accept = role { return .accept(forwarded: false) }
        return .dropped
    }

    /// Whether `name`, read with `_` as `-`, is a header that frames or routes the request, or is hop-by-hop.
    static func isFramingLookalike<Name: Collection<UInt8>>(_ name: Name) -> Bool {
        let dashed = name.map { $0 == UInt8(ascii: "_") ? UInt8(ascii: "-") : $0 }
        return dashed.equalsASCIIIgnoringCase("content-length") || dashed.equalsASCIIIgnoringCase("transfer-encoding")
            || dashed.equalsASCIIIgnoringCase("host") || dashed.equalsASCIIIgnoringCase("expect")
            || HopByHop.isFixed(dashed)
    }

    /// The `Authorization` to send instead of the client's: nil keeps the client's, "" drops it.
    func authorization(for auth: AuthOutcome) -> String? {
        switch auth {
        case .anonymous(let keeps): keeps ? nil : ""
        case .authenticated: identity.forwardAuthorization ? nil : ""
        case .renewed(_, let token): identity.forwardAuthorization ? "Bearer " + token : ""
        case .denied: ""
        }
    }

    /// The identity headers the gateway vouches for, added after the client's were stripped.
    func identityHeaders(for auth: AuthOutcome) -> [(name: String, value: String)] {
        let who: Identity
        switch auth {
        case .authenticated(let identity), .renewed(let identity, _): who = identity
        case .anonymous, .denied: return []
        }
        var headers: [(name: String, value: String)] = []
        headers.reserveCapacity(3)
        if !identity.userId.isEmpty { headers.append((identity.userId, who.claims.subject)) }
        if !identity.sessionId.isEmpty, let sid = who.claims.sessionID { headers.append((identity.sessionId, sid)) }
        if !identity.claims.isEmpty { headers.append((identity.claims, who.encodedClaims)) }
        return headers
    }

    /// The header lines for curl.
    func headerLines(for head: HTTPRequestHead, targetAuthority: String, context: Context) -> HeaderLines {
        let headers = head.headers
        let authorization = authorization(for: context.auth)
        let listed = HopByHop.connectionListed(in: headers)
        var lines = HeaderLines()
        var clientHost: String?
        var forwardedFor: String?
        var sawAccept = false
        for (name, value) in headers {
            switch classify(name, listed: listed) {
            case .host:
                clientHost = clientHost ?? value
            case .framing:
                break  // curl frames the body; 100-continue is answered by the gateway itself
            case .forwardedFor:
                forwardedFor = forwardedFor.map { "\($0), \(value)" } ?? value
            case .forwardedOther:
                break
            case .requestID:
                break  // decided before (RequestID.of), with the client's when it is valid
            case .authorization where authorization != nil:
                break
            case .accept(let forwarded):
                sawAccept = true
                if forwarded { lines.append(name: name, value: value) }
            case .authorization, .other:
                lines.append(name: name, value: value)
            case .dropped:
                break
            }
        }
        if let authorization, !authorization.isEmpty {
            lines.append("Authorization: ", authorization)
        }
        for header in identityHeaders(for: context.auth) { lines.append(name: header.name, value: header.value) }
        let host = !context.configuredHost.isEmpty ? context.configuredHost : (clientHost ?? targetAuthority)
        lines.append("Host: ", host)
        if let chain = Self.forwardedFor(forwardedFor, client: context.clientAddress) {
            lines.append("X-Forwarded-For: ", chain)
        }
        lines.append("X-Forwarded-Proto: ", context.scheme)
        if let clientHost { lines.append("X-Forwarded-Host: ", clientHost) }
        lines.append("X-Request-Id: ", context.requestID)
        // Suppress headers curl would add on its own.
        lines.append("Expect:")
        if !sawAccept { lines.append("Accept:") }
        return lines
    }

    /// The X-Forwarded-For to send: the client's own chain (its headers' values joined) with the client's address
    /// appended.
    static func forwardedFor(_ chain: String?, client: String?) -> String? {
        guard let client else { return chain }
        guard let chain else { return client }
        return chain + ", " + client
    }

    /// The X-Forwarded-For chain a client sent, all its headers' values joined; nil when it sent none.
    static func clientForwardedFor(_ headers: HTTPHeaders) -> String? {
        let values = headers["x-forwarded-for"]
        return values.isEmpty ? nil : values.joined(separator: ", ")
    }

    /// target + (path minus strip_prefix) + query, byte for byte.
    static func url(target: UpstreamTarget, path: Substring, query: Substring?) -> String {
        var url = ""
        url.reserveCapacity(target.scheme.utf8.count + 3 + target.authority.utf8.count + target.basePath.utf8.count
                            + path.utf8.count + (query.map { $0.utf8.count + 1 } ?? 0))
        url += target.scheme
        url += "://"
        url += target.authority
        url += target.basePath
        url += path
        if let query {
            url += "?"
            url += query
        }
        return url
    }
}

/// Request ids: 32 hex digits, unique per process run (a random prefix and a counter): cheap on the hot
/// path, and not guessable across restarts. They correlate logs; they are not secrets.
enum RequestID {
    private static let prefix = UInt64.random(in: .min ... .max)
    private static let counter = Atomic<UInt64>(UInt64.random(in: 0 ... UInt64(UInt32.max)))

    /// The longest client request id kept (docs/operations.md#access-log-and-request-ids).
    static let maximumLength = 200

    /// The request's id: the client's first `X-Request-Id` when it is 1-200 visible ASCII characters, else a
    /// generated one (a client's id goes into headers and log lines: nothing else may pass).
    static func of(_ headers: HTTPHeaders) -> String {
        for (name, value) in headers where name.utf8.count == 12 && name.utf8.equalsASCIIIgnoringCase("x-request-id") {
            return isValid(value) ? value : generate()
        }
        return generate()
    }

    static func isValid(_ id: String) -> Bool {
        let bytes = id.utf8
        return !bytes.isEmpty && bytes.count <= maximumLength && bytes.allSatisfy { $0 >= 0x21 && $0 <= 0x7E }
    }

    static func generate() -> String {
        let n = counter.wrappingAdd(1, ordering: .relaxed).newValue
        return String(unsafeUninitializedCapacity: 32) { buffer in
            writeHex(prefix, into: UnsafeMutableBufferPointer(rebasing: buffer[0..<16]))
            writeHex(n, into: UnsafeMutableBufferPointer(rebasing: buffer[16..<32]))
            return 32
        }
    }

    /// 16 lowercase hex digits, leading zeros kept.
    static func hex(_ v: UInt64) -> String {
        String(unsafeUninitializedCapacity: 16) { buffer in
            writeHex(v, into: buffer)
            return 16
        }
    }

    private static func writeHex(_ v: UInt64, into buffer: UnsafeMutableBufferPointer<UInt8>) {
        let digits: StaticString = "0123456789abcdef"
        var v = v
        for i in (0..<16).reversed() {
            buffer[i] = digits.utf8Start[Int(v & 0xF)]
            v >>= 4
        }
    }
}
