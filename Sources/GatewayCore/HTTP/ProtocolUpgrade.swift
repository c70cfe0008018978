import NIOHTTP1

/// What a request head asks of switching protocols (RFC 9110 §7.8; RFC 6455 §4.1 for WebSocket), read as NIO's
/// HTTP/1 parser (llhttp) reads it: a request with `Connection: upgrade` and an `Upgrade` header, or a CONNECT, is
/// the last one it parses on its connection, whatever the answer.
enum ProtocolUpgrade {
    /// The `Upgrade` value(s) of a request that asks to switch protocols; nil when it does not.
    static func requested(_ headers: HTTPHeaders) -> String? {
        let upgrade = headers["upgrade"]
        guard !upgrade.isEmpty, headers["connection"].contains(where: { lists($0, "upgrade") }) else { return nil }
        return upgrade.joined(separator: ", ")
    }

    /// Whether NIO's parser stops after this request (it then reads nothing more on the connection).
    static func endsParsing(_ head: HTTPRequestHead) -> Bool {
        head.method == .CONNECT || requested(head.headers) != nil
    }

    /// Whether a comma-separated list (`Connection`, `Upgrade`) names `token` (lower case), in any case. An
    /// `Upgrade` entry may carry a version (`websocket/13`): only its name counts.
    static func lists(_ value: String, _ token: StaticString) -> Bool {
        value.utf8.split(separator: UInt8(ascii: ",")).contains { entry in
            var name = entry[...]
            if let slash = name.firstIndex(of: UInt8(ascii: "/")) { name = name[..<slash] }
            while let first = name.first, first.isASCIIBlank { name = name.dropFirst() }
            while let last = name.last, last.isASCIIBlank { name = name.dropLast() }
            return name.equalsASCIIIgnoringCase(token)
        }
    }
}
