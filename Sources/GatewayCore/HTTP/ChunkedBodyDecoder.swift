/// Decodes a chunked message body (RFC 9112 §7.1) as its bytes arrive, in pieces of any size: the payload comes out,
/// chunk sizes, extensions and trailers are dropped. Bounded: a size line or trailer line longer than `maxLineBytes`,
/// or a size beyond 15 hex digits, is malformed. A bare LF is taken for CRLF, as most parsers do.
struct ChunkedBodyDecoder {
    struct Malformed: Error, Equatable {
        let reason: String
    }

    static let maxLineBytes = 8 * 1024

    private enum State: Equatable {
        /// The chunk size's hex digits so far.
        case size(value: Int, digits: Int)
        /// After the size: extensions (ignored) up to the line's end.
        case sizeLine(value: Int, length: Int)
        case data(remaining: Int)
        /// The CRLF after a chunk's data.
        case dataEnd(sawCR: Bool)
        /// After the last chunk: trailer lines until an empty one.
        case trailer(length: Int)
        case done
    }

    private var state = State.size(value: 0, digits: 0)

    /// The last chunk and the trailers have been read: nothing after them belongs to the body.
    var isDone: Bool { state == .done }

    /// Reads `input`, handing each run of payload bytes to `payload`; returns how many bytes of `input` belong to
    /// the body (all of them unless it ended inside `input`).
    mutating func decode(_ input: UnsafeRawBufferPointer, payload: (UnsafeRawBufferPointer) -> Void) throws(Malformed) -> Int {
        var i = 0
        while i < input.count {
            let byte = input[i]
            switch state {
            case .size(let value, let digits):
                if let digit = Self.hexValue(byte) {
                    guard digits < 15 else { throw Malformed(reason: "chunk size too large") }
                    state = .size(value: value << 4 | digit, digits: digits + 1)
                    i += 1
                } else {
                    guard digits > 0 else { throw Malformed(reason: "chunk size expected") }
                    state = .sizeLine(value: value, length: 0)
                }
            case .sizeLine(let value, let length):
                if byte == UInt8(ascii: "\n") {
                    state = value == 0 ? .trailer(length: 0) : .data(remaining: value)
                } else {
                    guard length < Self.maxLineBytes else { throw Malformed(reason: "chunk size line too long") }
                    state = .sizeLine(value: value, length: length + 1)
                }
                i += 1
            case .data(let remaining):
                let n = min(remaining, input.count - i)
                payload(UnsafeRawBufferPointer(rebasing: input[i..<i + n]))
                i += n
                state = remaining == n ? .dataEnd(sawCR: false) : .data(remaining: remaining - n)
            case .dataEnd(let sawCR):
                if byte == UInt8(ascii: "\r") && !sawCR {
                    state = .dataEnd(sawCR: true)
                } else if byte == UInt8(ascii: "\n") {
                    state = .size(value: 0, digits: 0)
                } else {
                    throw Malformed(reason: "chunk data not followed by CRLF")
                }
                i += 1
            case .trailer(let length):
                if byte == UInt8(ascii: "\n") {
                    state = length == 0 ? .done : .trailer(length: 0)
                } else if byte != UInt8(ascii: "\r") {
                    guard length < Self.maxLineBytes else { throw Malformed(reason: "trailer line too long") }
                    state = .trailer(length: length + 1)
                }
                i += 1
            case .done:
                return i
            }
        }
        return i
    }

    private static func hexValue(_ byte: UInt8) -> Int? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): Int(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): Int(byte - UInt8(ascii: "a")) + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): Int(byte - UInt8(ascii: "A")) + 10
        default: nil
        }
    }
}
