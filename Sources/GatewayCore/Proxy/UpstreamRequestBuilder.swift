import NIOHTTP1
import Synchronization

/// Shapes the request the upstream sees: the URL, end-to-end headers only, the client's identity headers removed,
/// X-Forwarded-* and X-Request-Id set, the gateway's identity headers added. Pure: no I/O.
struct UpstreamRequestBuilder: Sendable {
    /// Identity header names, normalised (lower case, `_` as `-`): removed from every client request.
    let identityHeaderKeys: Set<String>

    init(identityHeaders: [String]) {
        self.identityHeaderKeys = Set(identityHeaders.map(UpstreamRequestBuilder.normalizedKey))
    }

    /// `X-Auth_User-ID` → `x-auth-user-id`: how identity headers are compared, in any spelling.
    static func normalizedKey(_ name: String) -> String {
        String(decoding: name.utf8.map { b -> UInt8 in
            if b == UInt8(ascii: "_") { return UInt8(ascii: "-") }
            if b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z") { return b + 32 }
            return b
        }, as: UTF8.self)
    }

    struct Context {
        var clientAddress: String?
        var scheme = "http"
        /// The `Authorization` header to send instead of the client's (a renewed token); nil keeps the client's, "" drops it.
        var authorization: String?
        /// Headers the gateway vouches for (identity), added after the client's were stripped.
        var identity: [(String, String)] = []
        /// Host header for the upstream: "" = the client's Host.
        var configuredHost = ""
        var requestID: () -> String = RequestID.generate
    }

    /// The header lines for curl, and the body framing.
    func headerLines(for head: HTTPRequestHead, targetAuthority: String, context: Context) -> [String] {
        let headers = head.headers
        let listed = HopByHop.connectionListed(in: headers)
        var lines: [String] = []
        lines.reserveCapacity(headers.count + 8)
        var clientHost: String?
        var forwardedFor: String?
        var requestID: String?
        var sawAccept = false
        for (name, value) in headers {
            let lower = name.lowercased()
            switch lower {
            case "host":
                clientHost = clientHost ?? value
                continue
            case "content-length", "expect":
                continue  // curl frames the body; 100-continue is answered by the gateway itself
            case "x-forwarded-for":
                forwardedFor = forwardedFor.map { "\($0), \(value)" } ?? value
                continue
            case "x-forwarded-proto", "x-forwarded-host":
                continue
            case "x-request-id":
                if requestID == nil, !value.isEmpty { requestID = value }
                continue
            case "authorization" where context.authorization != nil:
                continue
            case "accept":
                sawAccept = true
            default:
                break
            }
            if HopByHop.isHopByHop(lower, listed: listed) { continue }
            if identityHeaderKeys.contains(UpstreamRequestBuilder.normalizedKey(lower)) { continue }
            lines.append(UpstreamRequestBuilder.line(name, value))
        }
        if let authorization = context.authorization, !authorization.isEmpty { lines.append("Authorization: \(authorization)") }
        for (name, value) in context.identity { lines.append(UpstreamRequestBuilder.line(name, value)) }
        let host = !context.configuredHost.isEmpty ? context.configuredHost : (clientHost ?? targetAuthority)
        lines.append("Host: \(host)")
        if let client = context.clientAddress {
            lines.append("X-Forwarded-For: " + (forwardedFor.map { "\($0), \(client)" } ?? client))
        } else if let forwardedFor {
            lines.append("X-Forwarded-For: \(forwardedFor)")
        }
        lines.append("X-Forwarded-Proto: \(context.scheme)")
        if let clientHost { lines.append("X-Forwarded-Host: \(clientHost)") }
        lines.append("X-Request-Id: \(requestID ?? context.requestID())")
        // Suppress headers curl would add on its own.
        lines.append("Expect:")
        if !sawAccept { lines.append("Accept:") }
        return lines
    }

    /// A curl header line; an empty value needs curl's `Name;` form (`Name:` would remove the header).
    static func line(_ name: String, _ value: String) -> String {
        value.isEmpty ? "\(name);" : "\(name): \(value)"
    }

    /// target + (path minus strip_prefix) + query, byte for byte.
    static func url(target: UpstreamTarget, path: Substring, query: Substring?) -> String {
        var url = target.scheme + "://" + target.authority + target.basePath
        url += path
        if let query { url += "?" + query }
        return url
    }
}

/// Request ids: 32 hex digits, unique per process run (a random prefix and a counter): cheap on the hot
/// path, and not guessable across restarts. They correlate logs; they are not secrets.
enum RequestID {
    private static let prefix: String = hex(UInt64.random(in: .min ... .max))
    private static let counter = Atomic<UInt64>(UInt64.random(in: 0 ... UInt64(UInt32.max)))

    static func generate() -> String {
        prefix + hex(counter.wrappingAdd(1, ordering: .relaxed).newValue)
    }

    static func hex(_ v: UInt64) -> String {
        let s = String(v, radix: 16)
        return String(repeating: "0", count: 16 - s.count) + s
    }
}
