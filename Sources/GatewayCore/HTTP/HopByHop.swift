import NIOHTTP1

/// Hop-by-hop headers (RFC 9110 §7.6.1): they describe one connection and are never forwarded.
/// Connection, Keep-Alive, TE, Trailer(s), Transfer-Encoding, Upgrade, any `Proxy-*` header, and the
/// headers a Connection header names.
///
/// This runs for every header of every proxied request and response, so names are compared as ASCII
/// bytes in any case, without lower-cased copies or hashing.
enum HopByHop {
    /// Whether `name` is hop-by-hop whatever the Connection header says.
    static func isFixed<Name: Collection<UInt8>>(_ name: Name) -> Bool {
        if name.hasASCIIPrefixIgnoringCase("proxy-") { return true }
        switch name.count {
        case 2: return name.equalsASCIIIgnoringCase("te")
        case 7: return name.equalsASCIIIgnoringCase("trailer") || name.equalsASCIIIgnoringCase("upgrade")
        case 8: return name.equalsASCIIIgnoringCase("trailers")
        case 10: return name.equalsASCIIIgnoringCase("connection") || name.equalsASCIIIgnoringCase("keep-alive")
        case 17: return name.equalsASCIIIgnoringCase("transfer-encoding")
        default: return false
        }
    }

    static func isConnection<Name: Collection<UInt8>>(_ name: Name) -> Bool {
        name.count == 10 && name.equalsASCIIIgnoringCase("connection")
    }

    /// Adds the names a Connection header value lists (lower case) to `listed`; names that are
    /// hop-by-hop anyway are left out.
    static func collectListed<Value: BidirectionalCollection<UInt8>>(inConnectionValue value: Value, into listed: inout [String]) {
        var rest = value[...]
        while !rest.isEmpty {
            let comma = rest.firstIndex(of: UInt8(ascii: ",")) ?? rest.endIndex
            var token = rest[..<comma]
            rest = comma == rest.endIndex ? rest[comma...] : rest[rest.index(after: comma)...]
            while let first = token.first, first.isASCIIBlank { token = token.dropFirst() }
            while let last = token.last, last.isASCIIBlank { token = token.dropLast() }
            if token.isEmpty || isFixed(token) { continue }
            listed.append(String(decoding: token.lazy.map(\.asciiLowercased), as: UTF8.self))
        }
    }

    /// Lower-cased names listed in the Connection header(s) that are not hop-by-hop anyway.
    static func connectionListed(in headers: HTTPHeaders) -> [String] {
        var listed: [String] = []
        for (name, value) in headers where isConnection(name.utf8) {
            collectListed(inConnectionValue: value.utf8, into: &listed)
        }
        return listed
    }

    static func isHopByHop<Name: Collection<UInt8>>(_ name: Name, listed: [String]) -> Bool {
        isFixed(name) || (!listed.isEmpty && listed.contains { name.equalsASCIIIgnoringCase(string: $0) })
    }
}
