import NIOHTTP1

/// `Authorization` header parsing (Auth/BearerCredential.swift, docs/http.md#route-auth–5.2).
///
/// Checks `BearerCredential.parse` on any string against a model written from docs/http.md over bytes: split on
/// SP/HTAB; no words is no credential; a first word other than `bearer` (ASCII, any case) is another scheme;
/// then exactly one more word is the token (a slice of the header, byte for byte), anything else malformed.
/// Then `init(headers:)` over header lines: two Authorization fields (any case) are `duplicated`.
enum BearerFuzz {
    static func run(_ bytes: [UInt8]) {
        let value = String(decoding: bytes, as: UTF8.self)
        let parsed = BearerCredential.parse(value)
        check(parsed, against: model(Array(value.utf8)), value: value)

        let fields = FuzzHeaders.fields(bytes)
        let authorizations = fields.filter { fuzzASCIILowercased($0.0.utf8) == Array("authorization".utf8) }
        let fromHeaders = BearerCredential(headers: HTTPHeaders(fields))
        switch authorizations.count {
        case 0: fuzzCheck(fromHeaders == .none, "no Authorization field gave \(fromHeaders)")
        case 1: check(fromHeaders, against: model(Array(authorizations[0].1.utf8)), value: authorizations[0].1)
        default: fuzzCheck(fromHeaders == .duplicated, "\(authorizations.count) Authorization fields gave \(fromHeaders)")
        }
    }

    enum Expected: Equatable {
        case none, otherScheme, malformed
        case token([UInt8])
    }

    static func model(_ bytes: [UInt8]) -> Expected {
        let words = bytes.split(whereSeparator: { $0 == 0x20 || $0 == 0x09 }).map(Array.init)
        guard let scheme = words.first else { return .none }
        guard fuzzASCIILowercased(scheme) == Array("bearer".utf8) else { return .otherScheme }
        guard words.count == 2 else { return .malformed }
        return .token(words[1])
    }

    static func check(_ parsed: BearerCredential, against expected: Expected, value: String) {
        let got: Expected
        switch parsed {
        case .none: got = .none
        case .otherScheme: got = .otherScheme
        case .malformed: got = .malformed
        case .duplicated: fuzzCheck(false, "parse(\(value.debugDescription)) gave duplicated"); return
        case .token(let token): got = .token(Array(token.utf8))
        }
        fuzzCheck(got == expected, "parse(\(value.debugDescription)) gave \(parsed), the documented model \(expected)")
    }
}
