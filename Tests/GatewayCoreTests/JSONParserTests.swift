import Foundation
import Testing
@testable import GatewayCore

/// `JSONValue.parse` (Auth/JSONParser.swift): RFC 8259, strictly — one name per member, UTF-8 only.
struct JSONParserTests {
    static func parse(_ text: String) -> JSONValue? { JSONValue.parse(Array(text.utf8)) }

    @Test func everyKindOfValue() {
        #expect(Self.parse(#" {"a": [1, -2, 3.5, "x", true, false, null], "b": {}} "#) == .object([
            "a": .array([.integer(1), .integer(-2), .double(3.5), .string("x"), .bool(true), .bool(false), .null]),
            "b": .object([:]),
        ]))
        #expect(Self.parse("[]") == .array([]))
        #expect(Self.parse(#""top""#) == .string("top"), "a fragment at the top is a JSON text (RFC 8259 §2)")
        #expect(Self.parse("\t\r\n 7 \n") == .integer(7))
    }

    /// The input the fuzzer found (CI, target json): JSONDecoder kept the first `rgle` and never validated the
    /// second's bytes, which are not UTF-8. Any duplicate name is refused, at any depth.
    @Test func aMemberNamedTwiceIsNotAccepted() {
        let found = Array(#"{"user":{"id":888888888888887,"rgle":888.8888888888887,"rgle":""#.utf8)
            + [0xFF, 0xFF, 0xFF, 0xFF] + Array(#"x"}}"#.utf8)
        #expect(JSONValue.parse(found) == nil)
        #expect(Self.parse(#"{"a":1,"a":1}"#) == nil)
        #expect(Self.parse(#"[{"exp":1,"x":{"k":1,"k":2}}]"#) == nil)
        #expect(Self.parse(#"{"a":1,"\u0061":2}"#) == nil, "names compare after unescaping")
        #expect(Self.parse(#"{"a":{"a":1}}"#) == .object(["a": .object(["a": .integer(1)])]), "one name in two objects is fine")
    }

    @Test func stringsMustBeUTF8() {
        for bad: [UInt8] in [[0xFF], [0xC3], [0xC0, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80]] {
            #expect(JSONValue.parse([0x22] + bad + [0x22]) == nil, "\(bad)")
            #expect(JSONValue.parse(Array(#""\n"#.utf8) + bad + [0x22]) == nil, "after an escape: \(bad)")
        }
        #expect(Self.parse(#""한국어 é 😀""#) == .string("한국어 é 😀"))
    }

    @Test func escapes() {
        #expect(Self.parse(#""\"\\\/\b\f\n\r\t""#) == .string("\"\\/\u{8}\u{C}\n\r\t"))
        #expect(Self.parse(#""\u00e9\uD55C\ud83d\ude00\u0000""#) == .string("é한😀\u{0}"))
        for bad in [#""\ud83d""#, #""\ude00""#, #""\ud83dx""#, #""\ud83d\u0041""#, #""\x""#, #""\u12""#, #""\u12G4""#, "\"a\u{1}\""] {
            #expect(Self.parse(bad) == nil, "\(bad.debugDescription)")
        }
    }

    @Test func numbers() {
        #expect(Self.parse("0") == .integer(0))
        #expect(Self.parse("-0") == .integer(0))
        #expect(Self.parse("9223372036854775807") == .integer(.max))
        #expect(Self.parse("-9223372036854775808") == .integer(.min))
        #expect(Self.parse("9223372036854775808") == .double(9223372036854775808), "past Int64: a double")
        #expect(Self.parse("1e2") == .integer(100), "whole: an integer, as its text will be written")
        #expect(Self.parse("2.50") == .double(2.5))
        #expect(Self.parse("-1.5E-3") == .double(-0.0015))
        for bad in ["01", "-", "1.", ".5", "1e", "1e+", "+1", "0x10", "1e400", "-1e400", "NaN", "Infinity", "1 2"] {
            #expect(Self.parse(bad) == nil, "\(bad)")
        }
    }

    @Test func structureErrors() {
        for bad in ["", " ", "{", "}", "[1,]", "[,1]", #"{"a":1,}"#, #"{"a" 1}"#, #"{a:1}"#, #"{"a":1}x"#, "tru", "nul", "[1]]", "'a'"] {
            #expect(Self.parse(bad) == nil, "\(bad.debugDescription)")
        }
    }

    @Test func nestingIsBounded() {
        let deepest = JSONParser.maximumDepth
        #expect(Self.parse(String(repeating: "[", count: deepest) + String(repeating: "]", count: deepest)) != nil)
        #expect(Self.parse(String(repeating: "[", count: deepest + 1) + String(repeating: "]", count: deepest + 1)) == nil)
        #expect(Self.parse(String(repeating: #"{"a":"#, count: deepest + 1) + "1" + String(repeating: "}", count: deepest + 1)) == nil)
        #expect(Self.parse(String(repeating: "[", count: 100_000)) == nil, "no stack overflow")
    }

    /// What the parser accepts, Foundation's JSONSerialization accepts, and `jsonText` reads back the same.
    @Test(arguments: [
        #"{"user":{"id":888888888888887,"rgle":888.8888888888887}}"#, #"[0.1,1e-7,123456789012345678901234567890]"#,
        #"{"name":"김철수","ok":true,"n":null}"#, #""\u2028""#,
    ])
    func acceptedTextIsJSONAndAFixedPoint(text: String) throws {
        let value = try #require(Self.parse(text))
        #expect((try? JSONSerialization.jsonObject(with: Data(text.utf8), options: .fragmentsAllowed)) != nil)
        #expect(Self.parse(value.jsonText) == value)
        #expect(Self.parse(value.jsonText)?.jsonText == value.jsonText)
    }
}
