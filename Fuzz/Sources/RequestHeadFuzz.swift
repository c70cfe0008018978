import NIOHTTP1

/// What the proxy reads off a request head before anything else (Proxy/ProxyHandler.swift `BodyFraming`,
/// `HeadSize`; Proxy/HopByHop.swift). Input: a method byte, the URI up to LF, then `name: value` lines.
///
/// - `BodyFraming.of` never disagrees with RFC 9112 §6 except by refusing: `.chunked` only for
///   Transfer-Encoding whose codings are exactly `chunked` and no Content-Length; `.length(n)` only when every
///   Content-Length element is the same run of digits with value n > 0 and no Transfer-Encoding; `.none` only
///   with neither, or a zero length. (Refusing more than the RFC must is allowed: smuggling shapes are refused.)
/// - `HeadSize.of` is the byte length of the head as written on the wire (`METHOD SP uri SP HTTP/1.1 CRLF`,
///   `name: value CRLF` per field, CRLF); `hostCount` counts Host fields in any case.
/// - `HopByHop.connectionListed` is the Connection fields' list elements, lower-cased, minus the fixed
///   hop-by-hop names; `isHopByHop` is exactly "fixed or listed".
enum RequestHeadFuzz {
    static func run(_ bytes: [UInt8]) {
        var reader = FuzzReader(bytes)
        let methodByte = reader.byte()
        let uri = String(decoding: reader.chunk(upTo: 0x0A), as: UTF8.self)
        let method: HTTPMethod = [.GET, .POST, .PUT, .HEAD, .DELETE, .OPTIONS][Int(methodByte % 7) % 6]
        let fields = FuzzHeaders.fields(reader.remaining())
        let headers = HTTPHeaders(fields)
        let head = HTTPRequestHead(version: .http1_1, method: methodByte % 7 == 6 ? .RAW(value: "PROPFIND") : method, uri: uri, headers: headers)

        let framing = BodyFraming.of(headers)
        let expected = modelFraming(fields)
        fuzzCheck(framing == expected || framing == .invalid, "BodyFraming.of gave \(framing), RFC 9112 gives \(expected) for \(fields)")

        let wire = head.method.rawValue.utf8.count + 1 + uri.utf8.count + 1 + "HTTP/1.1".utf8.count + 2
            + fields.reduce(0) { $0 + $1.0.utf8.count + 2 + $1.1.utf8.count + 2 } + 2
        fuzzCheck(HeadSize.of(head) == wire, "HeadSize.of gave \(HeadSize.of(head)), the head is \(wire) bytes")
        let hosts = fields.filter { fuzzASCIILowercased($0.0.utf8) == Array("host".utf8) }.count
        fuzzCheck(HeadSize.hostCount(headers) == hosts, "hostCount gave \(HeadSize.hostCount(headers)), \(hosts) Host fields")

        var listed: [String] = []
        for (name, value) in fields where fuzzASCIILowercased(name.utf8) == Array("connection".utf8) {
            for element in fuzzSplit(value.utf8, on: UInt8(ascii: ",")) {
                let token = fuzzASCIILowercased(fuzzTrimOWS(element[...]))
                if !token.isEmpty && !HeaderLinesFuzz.isFixedHopByHop(token) { listed.append(String(decoding: token, as: UTF8.self)) }
            }
        }
        let got = HopByHop.connectionListed(in: headers)
        fuzzCheck(got == listed, "connectionListed gave \(got), the Connection fields list \(listed)")
        for (name, _) in fields {
            let n = fuzzASCIILowercased(name.utf8)
            let expectedHop = HeaderLinesFuzz.isFixedHopByHop(n) || listed.contains(String(decoding: n, as: UTF8.self))
            fuzzCheck(HopByHop.isHopByHop(name.utf8, listed: listed) == expectedHop, "isHopByHop(\(name)) is not \(expectedHop) (listed \(listed))")
        }
    }

    /// RFC 9112 §6.1–6.3 with RFC 9110 §5.6.1 lists (empty elements ignored) and §8.6 (identical values).
    static func modelFraming(_ fields: [(String, String)]) -> BodyFraming {
        func elements(_ name: String) -> [[UInt8]]? {
            let values = fields.filter { fuzzASCIILowercased($0.0.utf8) == Array(name.utf8) }.map(\.1)
            guard !values.isEmpty else { return nil }
            return values.flatMap { fuzzSplit($0.utf8, on: UInt8(ascii: ",")) }.map { Array(fuzzTrimOWS($0[...])) }.filter { !$0.isEmpty }
        }
        let codings = elements("transfer-encoding")
        let lengths = elements("content-length")
        if let codings {
            guard lengths == nil else { return .invalid }
            return codings.map(fuzzASCIILowercased) == [Array("chunked".utf8)] ? .chunked : .invalid
        }
        guard let lengths else { return .none }
        guard let first = lengths.first, lengths.allSatisfy({ $0 == first }), first.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              let n = Int(String(decoding: first, as: UTF8.self))
        else { return .invalid }
        return n == 0 ? .none : .length(n)
    }
}
