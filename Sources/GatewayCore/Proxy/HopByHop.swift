import NIOHTTP1

/// Hop-by-hop headers (RFC 9110 §7.6.1): they describe one connection and are never forwarded.
enum HopByHop {
    static let names: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization",
        "te", "trailer", "trailers", "transfer-encoding", "upgrade",
    ]

    /// Lower-cased names listed in the Connection header(s), which are hop-by-hop too.
    static func connectionListed(in headers: HTTPHeaders) -> Set<String> {
        var listed: Set<String> = []
        for value in headers["connection"] {
            for token in value.split(separator: ",") {
                let name = token.trimmingASCIISpaces().lowercased()
                if !name.isEmpty { listed.insert(name) }
            }
        }
        return listed
    }

    static func isHopByHop(_ lowercasedName: String, listed: Set<String>) -> Bool {
        names.contains(lowercasedName) || lowercasedName.hasPrefix("proxy-") || listed.contains(lowercasedName)
    }

    static func removeHopByHop(from headers: inout HTTPHeaders) {
        let listed = connectionListed(in: headers)
        var needsFilter = false
        for (name, _) in headers where isHopByHop(name.lowercased(), listed: listed) {
            needsFilter = true
            break
        }
        guard needsFilter else { return }
        var kept = HTTPHeaders()
        kept.reserveCapacity(headers.count)
        for (name, value) in headers where !isHopByHop(name.lowercased(), listed: listed) {
            kept.add(name: name, value: value)
        }
        headers = kept
    }
}
