import Testing
@testable import GatewayCore

/// Chunked bodies (RFC 9112 §7.1) as they arrive, in pieces of any size.
struct ChunkedBodyDecoderTests {
    /// Decodes `wire` fed in pieces of `piece` bytes; returns the payload, whether it ended, and how many bytes
    /// belonged to the body.
    static func decode(_ wire: String, piece: Int) throws -> (payload: String, done: Bool, used: Int) {
        var decoder = ChunkedBodyDecoder()
        var payload: [UInt8] = []
        var used = 0
        let bytes = Array(wire.utf8)
        var start = 0
        while start < bytes.count, !decoder.isDone {
            let end = min(start + piece, bytes.count)
            used += try bytes[start..<end].withUnsafeBytes { part in
                try decoder.decode(part) { payload.append(contentsOf: $0) }
            }
            start = end
        }
        return (String(decoding: payload, as: UTF8.self), decoder.isDone, used)
    }

    static let wire = "5\r\nhello\r\n1;name=value\r\n \r\nA\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\n"

    @Test(arguments: [1, 2, 3, 7, 64])
    func thePayloadComesOutWhateverThePieces(piece: Int) throws {
        let result = try Self.decode(Self.wire, piece: piece)
        #expect(result.payload == "hello 0123456789")
        #expect(result.done)
        #expect(result.used == Self.wire.utf8.count)
    }

    @Test func bytesAfterTheLastChunkAreNotTheBodys() throws {
        let result = try Self.decode("3\nabc\n0\n\nHTTP/1.1 200 OK", piece: 100)
        #expect(result.payload == "abc", "bare LF is taken for CRLF")
        #expect(result.done)
        #expect(result.used == 9)
    }

    @Test func anUnfinishedBodyIsNotDone() throws {
        let result = try Self.decode("5\r\nhel", piece: 2)
        #expect(result.payload == "hel")
        #expect(!result.done)
    }

    @Test(arguments: ["x\r\n", "\r\n", "3\r\nabcX", "1234567890abcdef0\r\n", "5\r\nhello\r\r"])
    func malformedFramingIsRefused(wire: String) {
        #expect(throws: ChunkedBodyDecoder.Malformed.self) { try Self.decode(wire, piece: 4) }
    }

    @Test func aSizeLineWithoutEndIsBounded() {
        let wire = "1;" + String(repeating: "e", count: ChunkedBodyDecoder.maxLineBytes + 1)
        #expect(throws: ChunkedBodyDecoder.Malformed.self) { try Self.decode(wire, piece: 4096) }
    }
}
