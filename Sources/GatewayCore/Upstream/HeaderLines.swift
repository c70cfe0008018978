/// A request's header lines for curl (CURLOPT_HTTPHEADER), packed in one byte buffer: each line's UTF-8 bytes
/// followed by a NUL, in order. Built on the event loop with one allocation and straight copies, and laid out
/// for curl by the transport with one more copy (`CurlHeaderList`); a line per `String` cost an allocation
/// each, and a copy more, on every proxied request.
public struct HeaderLines: Sendable, Equatable, ExpressibleByArrayLiteral {
    /// The lines, each followed by a NUL.
    public private(set) var packed: [UInt8]
    /// How many lines `packed` holds.
    public private(set) var count: Int

    public init(reservingCapacity capacity: Int = 1024) {
        packed = []
        packed.reserveCapacity(capacity)
        count = 0
    }

    public init(_ lines: [String]) {
        self.init(reservingCapacity: lines.reduce(0) { $0 + $1.utf8.count + 1 })
        for line in lines { append(line) }
    }

    public init(arrayLiteral lines: String...) {
        self.init(lines)
    }

    /// Appends the parts joined as one line: `append("Host: ", host)`.
    public mutating func append(_ a: String, _ b: String = "", _ c: String = "", _ d: String = "") {
        appendBytes(of: a)
        appendBytes(of: b)
        appendBytes(of: c)
        appendBytes(of: d)
        packed.append(0)
        count += 1
    }

    /// One copy of the string's UTF-8 (`append(contentsOf: s.utf8)` walks the view generically), with CR, LF
    /// and NUL turned into SP (RFC 9110 §5.5): a line is one header, whatever a value holds. The client's own
    /// headers cannot hold them (the parser refuses such requests), but values the gateway adds can: a user
    /// id is what the credential check answered. A NUL would also end the line early in curl's C string and
    /// shift every later line of this buffer.
    private mutating func appendBytes(of string: String) {
        var string = string
        string.withUTF8 { source in
            let start = packed.count
            packed.append(contentsOf: source)
            // Every byte to replace is below 14: a minimum over the part (which vectorises) rules them out.
            var lowest = UInt8.max
            for byte in source { lowest = Swift.min(lowest, byte) }
            guard lowest < 14 else { return }
            for i in start..<packed.count where packed[i] == 13 || packed[i] == 10 || packed[i] == 0 {
                packed[i] = 32
            }
        }
    }

    /// Appends `name: value`; an empty value needs curl's `Name;` form (`Name:` would remove the header).
    public mutating func append(name: String, value: String) {
        if value.isEmpty {
            append(name, ";")
        } else {
            append(name, ": ", value)
        }
    }

    /// The lines as strings (tests, diagnostics; the transport reads `packed`).
    public var lines: [String] {
        packed.split(separator: 0, omittingEmptySubsequences: false).dropLast().map { String(decoding: $0, as: UTF8.self) }
    }
}
