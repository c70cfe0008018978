import CCurl
import Foundation
import NIOHTTP1

/// Header lines for curl (Upstream/HeaderLines.swift, Upstream/CurlHeaderList.swift) and the request headers
/// the upstream sees (Proxy/UpstreamRequestBuilder.swift, docs/http.md#forwarding). The first byte picks one:
///
/// - even: appends of arbitrary parts (any bytes, CR/LF/NUL included). Every line is its parts joined with CR,
///   LF and NUL turned into SP; `packed` is exactly the lines each followed by one NUL; `Name;` stands for an
///   empty value. The same lines laid out as a `curl_slist` (pointer arithmetic, buffers reused and grown
///   across inputs, under AddressSanitizer) read back line for line.
/// - odd: a client request's header fields (as NIO's parser delivers them) through `UpstreamRequestBuilder`,
///   compared line for line with a model of docs/http.md#forwarding: hop-by-hop fields and those the Connection header
///   names are dropped, identity headers from the client are dropped in any spelling, so are names with `_`
///   that read as a framing, Host or hop-by-hop header with `-` (`Content_Length`), Content-Length and
///   Expect are curl's, X-Forwarded-For is appended to, X-Forwarded-Proto/-Host and X-Request-Id are set
///   once, Host once; no line holds CR or LF whatever the gateway's own values hold.
enum HeaderLinesFuzz {
    nonisolated(unsafe) static let curlList = CurlHeaderList(nodeCapacity: 2, byteCapacity: 16)

    static func run(_ bytes: [UInt8]) {
        var reader = FuzzReader(bytes)
        if reader.byte() & 1 == 0 {
            appends(&reader)
        } else {
            requestHeaders(&reader)
        }
    }

    static func sanitized(_ bytes: some Sequence<UInt8>) -> [UInt8] {
        bytes.map { $0 == 0x0D || $0 == 0x0A || $0 == 0 ? 0x20 : $0 }
    }

    static func string(_ bytes: some Collection<UInt8>) -> String { String(decoding: bytes, as: UTF8.self) }

    // MARK: HeaderLines and CurlHeaderList

    static func appends(_ reader: inout FuzzReader) {
        var lines = HeaderLines(reservingCapacity: Int(reader.byte() % 64))
        var expected: [[UInt8]] = []
        while !reader.isEmpty {
            switch reader.byte() % 3 {
            case 0:
                let name = string(reader.chunk(upTo: 0xFF))
                let value = string(reader.chunk(upTo: 0xFF))
                lines.append(name: name, value: value)
                expected.append(sanitized(name.utf8) + (value.isEmpty ? Array(";".utf8) : Array(": ".utf8) + sanitized(value.utf8)))
            default:
                let parts = (0...(reader.byte() % 4)).map { _ in string(reader.chunk(upTo: 0xFF)) }
                switch parts.count {
                case 1: lines.append(parts[0])
                case 2: lines.append(parts[0], parts[1])
                case 3: lines.append(parts[0], parts[1], parts[2])
                default: lines.append(parts[0], parts[1], parts[2], parts[3])
                }
                expected.append(sanitized(parts.joined().utf8))
            }
        }
        fuzzCheck(lines.count == expected.count, "\(lines.count) lines counted, \(expected.count) appended")
        fuzzCheck(lines.packed == expected.flatMap { $0 + [0] }, "packed \(lines.packed) is not the lines \(expected) each ended by NUL")
        fuzzCheck(lines.lines.map { Array($0.utf8) } == expected, "lines read back \(lines.lines) differ from \(expected)")
        fuzzCheck(HeaderLines(lines.lines) == lines, "HeaderLines(lines.lines) differs from the lines it was built from")
        checkCurlList(lines, expected)
    }

    static func checkCurlList(_ lines: HeaderLines, _ expected: [[UInt8]]) {
        var node = curlList.layOut(lines)
        fuzzCheck((node == nil) == expected.isEmpty, "curl list head is \(String(describing: node)) for \(expected.count) lines")
        var i = 0
        while let current = node {
            fuzzCheck(i < expected.count, "curl list longer than \(expected.count) lines")
            let data = current.pointee.data!
            let line = Array(UnsafeBufferPointer(start: UnsafeRawPointer(data).assumingMemoryBound(to: UInt8.self), count: strlen(data)))
            fuzzCheck(line == expected[i], "curl list line \(i) is \(line), expected \(expected[i])")
            node = current.pointee.next
            i += 1
        }
        fuzzCheck(i == expected.count, "curl list has \(i) lines, expected \(expected.count)")
    }

    // MARK: UpstreamRequestBuilder

    static let identityNames = ["X-Auth-User-Id", "X-Auth-Session-Id", "X-Auth-Claims"]
    static let builder = UpstreamRequestBuilder(headers: IdentityHeadersConfig())

    static func requestHeaders(_ reader: inout FuzzReader) {
        let flags = reader.byte()
        var context = UpstreamRequestBuilder.Context()
        context.clientAddress = flags & 1 != 0 ? "192.0.2.7" : nil
        context.scheme = flags & 2 != 0 ? "https" : "http"
        context.configuredHost = flags & 16 != 0 ? "upstream.internal" : ""
        context.requestID = "generated-request-id"
        var who: Identity?
        if flags & 32 != 0 {
            // The gateway's own values can hold anything a credential check answered (a user id with CR LF).
            let payload: [String: JSONValue] = ["token_type": .string("access"), "exp": .integer(1),
                                                "sub": .string(string(reader.chunk(upTo: 0xFF))), "sid": .string("sid-1")]
            who = TokenClaims(payload: payload, userIdClaim: "user_id").map { Identity(claims: $0) }
        }
        // Model of docs/http.md#forwarding: which Authorization goes upstream (nil: the client's), which identity headers.
        let choice = Int(flags >> 2 & 3) % 3
        var authorization: String?
        var identity: [(String, String)] = []
        if let who {
            context.auth = choice == 2 ? .renewed(who, token: "renewed.token.x") : .authenticated(who)
            authorization = choice == 2 ? "Bearer renewed.token.x" : nil
            identity = [(identityNames[0], who.claims.subject), (identityNames[1], "sid-1"), (identityNames[2], who.encodedClaims)]
        } else {
            context.auth = .anonymous(keepsAuthorization: choice != 1)
            authorization = choice == 1 ? "" : nil
        }
        let fields = FuzzHeaders.fields(reader.remaining())
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/", headers: HTTPHeaders(fields))
        let lines = builder.headerLines(for: head, targetAuthority: "127.0.0.1:9000", context: context)

        fuzzCheck(lines.packed.filter { $0 == 0 }.count == lines.count, "\(lines.count) lines but \(lines.packed.filter { $0 == 0 }.count) NULs")
        fuzzCheck(!lines.packed.contains(0x0D) && !lines.packed.contains(0x0A), "a header line holds CR or LF: \(lines.lines)")
        let expected = model(fields, context, authorization: authorization, identity: identity)
        let got = lines.lines.map { Array($0.utf8) }
        fuzzCheck(got == expected, "upstream header lines\n  \(lines.lines)\nexpected (docs/http.md#forwarding)\n  \(expected.map { string($0) })\nfor fields \(fields)")
    }

    static func lower(_ s: String) -> [UInt8] { fuzzASCIILowercased(s.utf8) }

    static func isFixedHopByHop(_ name: [UInt8]) -> Bool {
        name.starts(with: Array("proxy-".utf8))
            || ["connection", "keep-alive", "te", "trailer", "trailers", "transfer-encoding", "upgrade"].contains { Array($0.utf8) == name }
    }

    static func model(_ fields: [(String, String)], _ context: UpstreamRequestBuilder.Context, authorization: String?,
                      identity: [(String, String)]) -> [[UInt8]] {
        var listed: Set<[UInt8]> = []
        for (name, value) in fields where lower(name) == Array("connection".utf8) {
            for token in fuzzSplit(value.utf8, on: UInt8(ascii: ",")) {
                let t = fuzzASCIILowercased(fuzzTrimOWS(token[...]))
                if !t.isEmpty { listed.insert(t) }
            }
        }
        let identityKeys = Set(identityNames.map { lower($0).map { $0 == UInt8(ascii: "_") ? UInt8(ascii: "-") : $0 } })
        func line(_ name: String, _ value: String) -> [UInt8] {
            sanitized(name.utf8) + (value.isEmpty ? Array(";".utf8) : Array(": ".utf8) + sanitized(value.utf8))
        }

        var out: [[UInt8]] = []
        var clientHost: String?
        var forwardedFor: String?
        var sawAccept = false
        for (name, value) in fields {
            let n = lower(name)
            let dashed = n.map { $0 == UInt8(ascii: "_") ? UInt8(ascii: "-") : $0 }
            // Upstreams that read `_` as `-` (CGI, WSGI) would take `Content_Length` or `Proxy_Authorization` for
            // the real header: a name with `_` that reads as a framing, routing or hop-by-hop one is dropped.
            let lookalike = n.contains(UInt8(ascii: "_"))
                && (["content-length", "transfer-encoding", "host", "expect"].contains { Array($0.utf8) == dashed } || isFixedHopByHop(dashed))
            let removed = isFixedHopByHop(n) || listed.contains(n) || identityKeys.contains(dashed) || lookalike
            switch String(decoding: n, as: UTF8.self) {
            case "host": clientHost = clientHost ?? value
            case "content-length", "expect", "x-forwarded-host", "x-forwarded-proto": break
            case "x-forwarded-for": forwardedFor = forwardedFor.map { $0 + ", " + value } ?? value
            case "x-request-id": break  // the request's id is decided before (RequestID.of) and given in the context
            case "accept":
                sawAccept = true
                if !removed { out.append(line(name, value)) }
            case "authorization":
                if authorization == nil, !removed { out.append(line(name, value)) }
            default:
                if !removed { out.append(line(name, value)) }
            }
        }
        if let authorization, !authorization.isEmpty { out.append(sanitized(("Authorization: " + authorization).utf8)) }
        for (name, value) in identity { out.append(line(name, value)) }
        out.append(sanitized(("Host: " + (context.configuredHost.isEmpty ? clientHost ?? "127.0.0.1:9000" : context.configuredHost)).utf8))
        switch (forwardedFor, context.clientAddress) {
        case (let f?, let c?): out.append(sanitized("X-Forwarded-For: \(f), \(c)".utf8))
        case (nil, let c?): out.append(sanitized("X-Forwarded-For: \(c)".utf8))
        case (let f?, nil): out.append(sanitized("X-Forwarded-For: \(f)".utf8))
        case (nil, nil): break
        }
        out.append(Array("X-Forwarded-Proto: \(context.scheme)".utf8))
        if let clientHost { out.append(sanitized(("X-Forwarded-Host: " + clientHost).utf8)) }
        out.append(sanitized(("X-Request-Id: " + "generated-request-id").utf8))
        out.append(Array("Expect:".utf8))
        if !sawAccept { out.append(Array("Accept:".utf8)) }
        return out
    }
}
