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

    /// One copy of the string's UTF-8 (`append(contentsOf: s.utf8)` walks the view generically).
    private mutating func appendBytes(of string: String) {
        var string = string
        string.withUTF8 { packed.append(contentsOf: $0) }
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
