import NIOHTTP1
import Testing
@testable import GatewayCore

/// The upstream's answer to an upgrade request, read from raw bytes (docs/http.md#websocket): a 101 hands over what follows it,
/// any other answer is an ordinary response whose body is framed as its head says.
struct UpgradeResponseReaderTests {
    struct Read {
        var head: UpstreamResponseHead?
        var body: [UInt8] = []
        var complete = false
        var bodyText: String { String(decoding: body, as: UTF8.self) }
    }

    /// Feeds `wire` in pieces of `piece` bytes, as reads would deliver it.
    static func read(_ wire: String, piece: Int = .max, reader: inout UpgradeResponseReader) throws -> Read {
        var result = Read()
        let bytes = Array(wire.utf8)
        var start = 0
        while start < bytes.count {
            let end = min(start + min(piece, bytes.count), bytes.count)
            let done = try bytes[start..<end].withUnsafeBytes { part in
                try reader.read(part, onHead: { result.head = $0 }, onBody: { result.body.append(contentsOf: $0) })
            }
            result.complete = result.complete || done
            start = end
        }
        return result
    }

    static func read(_ wire: String, piece: Int = .max) throws -> Read {
        var reader = UpgradeResponseReader()
        return try read(wire, piece: piece, reader: &reader)
    }

    static let switched = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        + "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nKeep-Alive: timeout=5\r\n\r\n"

    @Test(arguments: [1, 5, 1000])
    func a101HandsOverEveryByteAfterIt(piece: Int) throws {
        var reader = UpgradeResponseReader()
        let result = try Self.read(Self.switched + "\u{81}\u{05}hello", piece: piece, reader: &reader)
        let head = try #require(result.head)
        #expect(head.status == .switchingProtocols)
        #expect(head.headers["sec-websocket-accept"] == ["s3pPLMBiTxaQ9kYGzzhZRbK+xOo="])
        #expect(head.headers["connection"] == ["Upgrade"], "this hop's switch, not the upstream's field")
        #expect(head.headers["upgrade"] == ["websocket"])
        #expect(!head.headers.contains(name: "keep-alive"))
        #expect(result.bodyText == "\u{81}\u{05}hello")
        #expect(!result.complete, "a tunnel ends when a side closes")
        #expect(reader.hasSwitched)
        #expect(reader.isCompleteAtClose)
    }

    @Test func an101WithoutUpgradeIsRefused() {
        #expect(throws: UpgradeResponseReader.Violation.self) {
            try Self.read("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\r\n")
        }
    }

    @Test func anInterimResponseBeforeThe101IsSkipped() throws {
        let result = try Self.read("HTTP/1.1 100 Continue\r\nX-Interim: 1\r\n\r\n" + Self.switched)
        #expect(result.head?.status == .switchingProtocols)
        #expect(result.head?.headers.contains(name: "x-interim") == false)
    }

    @Test func aRefusalWithContentLengthEndsWithItsBody() throws {
        var reader = UpgradeResponseReader()
        let result = try Self.read("HTTP/1.1 403 Forbidden\r\nContent-Length: 7\r\nConnection: close\r\n\r\nrefusedEXTRA",
                                   piece: 3, reader: &reader)
        #expect(result.head?.status == .forbidden)
        #expect(result.head?.headers["content-length"] == ["7"])
        #expect(result.bodyText == "refused")
        #expect(result.complete)
        #expect(!reader.hasSwitched)
    }

    @Test func aChunkedRefusalIsDecodedAndLosesItsFraming() throws {
        let result = try Self.read("HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\nContent-Length: 99\r\n\r\n"
                                   + "3\r\nbad\r\n0\r\n\r\n", piece: 4)
        #expect(result.head?.status == .badRequest)
        #expect(result.head?.headers.contains(name: "transfer-encoding") == false)
        #expect(result.head?.headers.contains(name: "content-length") == false, "RFC 9112 §6.3: the coding wins")
        #expect(result.bodyText == "bad")
        #expect(result.complete)
    }

    @Test func aRefusalWithoutFramingEndsAtClose() throws {
        var reader = UpgradeResponseReader()
        let result = try Self.read("HTTP/1.1 426 Upgrade Required\r\n\r\nno", reader: &reader)
        #expect(result.bodyText == "no")
        #expect(!result.complete)
        #expect(reader.isCompleteAtClose)
    }

    @Test func aBodyCutShortIsNotCompleteAtClose() throws {
        var reader = UpgradeResponseReader()
        _ = try Self.read("HTTP/1.1 403 Forbidden\r\nContent-Length: 10\r\n\r\nabc", reader: &reader)
        #expect(!reader.isCompleteAtClose)
        var headless = UpgradeResponseReader()
        _ = try Self.read("HTTP/1.1 101 Swi", reader: &headless)
        #expect(!headless.isCompleteAtClose)
    }

    @Test func aNoContentAnswerIsCompleteAtItsHead() throws {
        let result = try Self.read("HTTP/1.1 204 No Content\r\n\r\n")
        #expect(result.head?.status == .noContent)
        #expect(result.complete)
    }

    @Test func anEndlessHeadIsRefused() {
        let wire = "HTTP/1.1 101 Switching Protocols\r\nX: " + String(repeating: "a", count: UpgradeResponseReader.maxHeadBytes)
        #expect(throws: UpgradeResponseReader.Violation.self) { try Self.read(wire, piece: 4096) }
    }

    @Test func aMalformedChunkedBodyIsAViolation() {
        #expect(throws: UpgradeResponseReader.Violation.self) {
            try Self.read("HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
        }
    }
}
