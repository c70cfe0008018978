import Foundation

/// JSON values and RFC 6901 pointers (Auth/JSONValue.swift): claims, the credentials endpoint's answer,
/// `auth.user_pointer` and friends.
///
/// Input: the first line is a pointer, the rest a JSON document.
/// - `JSONValue.parse` accepts only JSON (Foundation's JSONSerialization agrees the text is JSON, and reads the
///   same document from it; the parser also refuses names used twice in one object, which JSONSerialization
///   lets the last win), and its
///   compact text is a fixed point: parsing `jsonText` gives a value with the same text.
/// - `JSONPointer(parsing:)` matches RFC 6901 over Unicode scalars: `""` is the root, otherwise `/`-separated
///   reference tokens where `~0` is `~`, `~1` is `/` and any other `~` is an error; escaping its tokens again
///   gives the text back.
/// - `resolve(in:)` walks objects by key and arrays by a canonical decimal index (no sign, no leading zero).
enum JSONFuzz {
    static func run(_ bytes: [UInt8]) {
        var reader = FuzzReader(bytes)
        let pointerText = String(decoding: reader.chunk(upTo: 0x0A), as: UTF8.self)
        let documentBytes = Array(reader.remaining())

        let document = JSONValue.parse(documentBytes)
        if let document {
            let foundation = try? JSONSerialization.jsonObject(with: Data(documentBytes), options: .fragmentsAllowed)
            fuzzCheck(foundation != nil,
                      "JSONValue.parse accepted what JSONSerialization calls not JSON: \(String(decoding: documentBytes, as: UTF8.self).debugDescription)")
            if let foundation {
                fuzzCheck(agrees(document, foundation),
                          "JSONValue.parse read \(document.jsonText.debugDescription), JSONSerialization \(foundation) from \(String(decoding: documentBytes, as: UTF8.self).debugDescription)")
            }
            let text = document.jsonText
            let reparsed = JSONValue.parse(Array(text.utf8))
            fuzzCheck(reparsed != nil, "jsonText \(text.debugDescription) does not parse again")
            fuzzCheck(reparsed?.jsonText == text, "jsonText is not a fixed point: \(text.debugDescription) -> \(reparsed?.jsonText.debugDescription ?? "nil")")
        }

        let expected = modelTokens(pointerText)
        let pointer = try? JSONPointer(parsing: pointerText)
        fuzzCheck(pointer?.tokens.map(scalars) == expected?.map(scalars),
                  "pointer \(pointerText.debugDescription) parsed to \(String(describing: pointer?.tokens)), RFC 6901 gives \(String(describing: expected))")
        guard let pointer else { return }
        fuzzCheck(pointer.description == pointerText, "pointer description \(pointer.description.debugDescription) is not its text \(pointerText.debugDescription)")
        let escaped = pointer.tokens.map { "/" + escapedToken($0) }.joined()
        fuzzCheck(scalars(escaped) == scalars(pointerText), "pointer \(pointerText.debugDescription) re-escaped is \(escaped.debugDescription)")

        if let document {
            let resolved = pointer.resolve(in: document)
            let expectedValue = modelResolve(pointer.tokens[...], in: document)
            fuzzCheck(resolved == expectedValue, "\(pointerText.debugDescription) resolved to \(String(describing: resolved)), expected \(String(describing: expectedValue))")
        }
    }

    /// The same document: members by name (as many), elements in order, strings equal, numbers close.
    static func agrees(_ value: JSONValue, _ other: Any) -> Bool {
        switch value {
        case .null: return other is NSNull
        case .bool(let b): return (other as? Bool) == b
        case .integer(let i): return close(Double(i), other)
        case .double(let d): return close(d, other)
        case .string(let s): return (other as? String) == s
        case .array(let elements):
            guard let others = other as? [Any], others.count == elements.count else { return false }
            return zip(elements, others).allSatisfy { agrees($0, $1) }
        case .object(let members):
            guard let others = other as? [String: Any], others.count == members.count else { return false }
            return members.allSatisfy { name, member in others[name].map { agrees(member, $0) } ?? false }
        }
    }

    /// Numbers agree to 1e-9: JSONSerialization reads long numbers as a 38-digit Decimal, whose doubleValue is
    /// not correctly rounded (the parser's Double is the standard library's, which is).
    static func close(_ d: Double, _ other: Any) -> Bool {
        guard let o = (other as? NSNumber)?.doubleValue else { return false }
        return d == o || abs(d - o) <= 1e-9 * max(abs(d), abs(o))
    }

    static func scalars(_ s: String) -> [UInt32] { s.unicodeScalars.map(\.value) }

    /// `~` as `~0`, `/` as `~1` (RFC 6901 §3), scalar by scalar: String's own replacing compares characters, and
    /// misses a `/` that a combining mark follows.
    static func escapedToken(_ token: String) -> String {
        var out = String.UnicodeScalarView()
        for scalar in token.unicodeScalars {
            switch scalar {
            case "~": out.append(contentsOf: "~0".unicodeScalars)
            case "/": out.append(contentsOf: "~1".unicodeScalars)
            default: out.append(scalar)
            }
        }
        return String(out)
    }

    /// RFC 6901 §3–4 over Unicode scalars.
    static func modelTokens(_ text: String) -> [String]? {
        let s = Array(text.unicodeScalars)
        if s.isEmpty { return [] }
        guard s.first == "/" else { return nil }
        var tokens: [String] = []
        var token = String.UnicodeScalarView()
        var i = 1
        while i <= s.count {
            if i == s.count || s[i] == "/" {
                tokens.append(String(token))
                token = String.UnicodeScalarView()
                i += 1
                continue
            }
            if s[i] == "~" {
                guard i + 1 < s.count, s[i + 1] == "0" || s[i + 1] == "1" else { return nil }
                token.append(s[i + 1] == "0" ? "~" : "/")
                i += 2
                continue
            }
            token.append(s[i])
            i += 1
        }
        return tokens
    }

    /// RFC 6901 §4: a token names an object member, or an array element by a decimal index without a sign or
    /// leading zeros.
    static func modelResolve(_ tokens: ArraySlice<String>, in value: JSONValue) -> JSONValue? {
        guard let token = tokens.first else { return value }
        let next: JSONValue?
        switch value {
        case .object(let members): next = members[token]
        case .array(let elements): next = arrayIndex(token).flatMap { $0 < elements.count ? elements[$0] : nil }
        default: next = nil
        }
        return next.flatMap { modelResolve(tokens.dropFirst(), in: $0) }
    }

    static func arrayIndex(_ token: String) -> Int? {
        let digits = Array(token.utf8)
        guard !digits.isEmpty, digits.count <= 18, digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              digits == [0x30] || digits.first != 0x30
        else { return nil }
        return digits.reduce(0) { $0 * 10 + Int($1 - 0x30) }
    }
}
