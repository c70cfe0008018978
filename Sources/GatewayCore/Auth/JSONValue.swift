import Foundation

/// A JSON document as a value: what the credentials endpoint answers, and what claims hold.
public enum JSONValue: Sendable, Hashable, Codable {
    case null
    case bool(Bool)
    case integer(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        // Most likely first: every failed attempt builds a DecodingError, which dominated token verification.
        let container = try decoder.singleValueContainer()
        if let s = try? container.decode(String.self) {
            self = .string(s)
        } else if let i = try? container.decode(Int64.self) {
            self = .integer(i)
        } else if container.decodeNil() {
            self = .null
        } else if let b = try? container.decode(Bool.self) {
            self = .bool(b)
        } else if let d = try? container.decode(Double.self) {
            // A number that rounds to a whole double ("12345678901234560.5") is written back without a fraction and
            // would read as an integer the next time: make it one now, so text -> value -> text is a fixed point
            // (found by scripts/fuzz, target json).
            if let whole = Int64(exactly: d) { self = .integer(whole) } else { self = .double(d) }
        } else if let a = try? container.decode([JSONValue].self) {
            self = .array(a)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let b): try container.encode(b)
        case .integer(let i): try container.encode(i)
        case .double(let d): try container.encode(d)
        case .string(let s): try container.encode(s)
        case .array(let a): try container.encode(a)
        case .object(let o): try container.encode(o)
        }
    }

    /// Parses a JSON text; nil when it is not JSON, or names one member of an object twice (JSONParser).
    public static func parse(_ bytes: some Collection<UInt8>) -> JSONValue? {
        JSONParser.parse(bytes)
    }

    /// Compact JSON text with sorted keys (stable output for headers and tests).
    public var jsonText: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? String(decoding: encoder.encode(self), as: UTF8.self)) ?? "null"
    }

    public subscript(key: String) -> JSONValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    /// The value as an identifier string: strings as they are, integers in decimal.
    public var identifierString: String? {
        switch self {
        case .string(let s): s
        case .integer(let i): String(i)
        default: nil
        }
    }
}

/// An RFC 6901 JSON pointer (`""` is the whole document, `/a/0/b~1c` walks into it).
public struct JSONPointer: Sendable, Hashable, CustomStringConvertible {
    public let tokens: [String]
    public let description: String

    public static let root = JSONPointer(tokens: [], description: "")

    private init(tokens: [String], description: String) {
        self.tokens = tokens
        self.description = description
    }

    public struct SyntaxError: Error, CustomStringConvertible {
        public let description: String
    }

    public init(parsing text: String) throws {
        if text.isEmpty {
            self = .root
            return
        }
        // By byte: `hasPrefix` compares grapheme clusters, and "/" followed by a combining mark is one.
        guard text.utf8.first == UInt8(ascii: "/") else {
            throw SyntaxError(description: "a JSON pointer starts with \"/\" (or is \"\" for the whole document), got \"\(text)\"")
        }
        // RFC 6901 works on code points, not on grapheme clusters: split and unescape bytes, so a combining
        // mark after `/` or `~` cannot glue two tokens together (found by scripts/fuzz).
        var tokens: [String] = []
        for raw in text.utf8.dropFirst().split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false) {
            var token: [UInt8] = []
            var bytes = raw.makeIterator()
            while let b = bytes.next() {
                guard b == UInt8(ascii: "~") else {
                    token.append(b)
                    continue
                }
                switch bytes.next() {
                case UInt8(ascii: "0"): token.append(UInt8(ascii: "~"))
                case UInt8(ascii: "1"): token.append(UInt8(ascii: "/"))
                default: throw SyntaxError(description: "\"~\" must be followed by 0 or 1 in JSON pointer \"\(text)\"")
                }
            }
            tokens.append(String(decoding: token, as: UTF8.self))
        }
        self.init(tokens: tokens, description: text)
    }

    /// The value this pointer names inside `document`, or nil when it names nothing.
    public func resolve(in document: JSONValue) -> JSONValue? {
        var current = document
        for token in tokens {
            switch current {
            case .object(let o):
                guard let next = o[token] else { return nil }
                current = next
            case .array(let a):
                guard let i = Int(token), i >= 0, i < a.count, token == String(i) else { return nil }
                current = a[i]
            default:
                return nil
            }
        }
        return current
    }
}
