import NIOHTTP1

/// The upstream's status line (Upstream/ResponseHeadReader.swift `status(ofStatusLine:)`), as curl's header callback
/// hands it over: a line starting with `HTTP/`, line end removed, any bytes after.
///
/// The code is the second SP-separated field when that is 1 to 18 ASCII digits (else 502, a broken
/// upstream); a code outside NIO's standard set keeps the rest of the line after the code and one SP as its
/// reason phrase (RFC 9112 §4: `status-code SP [ reason-phrase ]`, where the phrase may itself start with SP).
enum StatusLineFuzz {
    static func run(_ bytes: [UInt8]) {
        let line = Array("HTTP/".utf8) + bytes.prefix { $0 != 0x0A && $0 != 0x0D }
        let status = line.withUnsafeBytes { ResponseHeadReader.status(ofStatusLine: $0) }

        let space = UInt8(ascii: " ")
        var rest = line[...]
        rest = rest.drop { $0 != space }.drop { $0 == space }
        let digits = rest.prefix { $0 != space }
        let reason = rest.dropFirst(digits.count).dropFirst()
        guard (1...18).contains(digits.count), digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
            fuzzCheck(status.code == 502, "\(String(decoding: line, as: UTF8.self).debugDescription) gave \(status.code), not 502")
            return
        }
        let code = Int(String(decoding: digits, as: UTF8.self))!
        fuzzCheck(status.code == UInt(code), "\(String(decoding: line, as: UTF8.self).debugDescription) gave \(status.code), not \(code)")
        if case .custom = HTTPResponseStatus(statusCode: code) {
            let expected = String(decoding: reason, as: UTF8.self)
            fuzzCheck(status.reasonPhrase == expected, "reason \(status.reasonPhrase.debugDescription), expected \(expected.debugDescription)")
        }
    }
}
