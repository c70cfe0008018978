import NIOHTTP1
import Testing
@testable import GatewayCore

/// How a request body is framed; every ambiguous framing is refused (request smuggling, RFC 9112 §6.3).
struct BodyFramingTests {
    static func framing(_ headers: [(String, String)]) -> BodyFraming {
        BodyFraming.of(HTTPHeaders(headers))
    }

    @Test func noFramingHeadersIsNoBody() {
        #expect(Self.framing([("Host", "h")]) == .none)
    }

    @Test(arguments: [("42", 42), ("1", 1), ("10485760", 10_485_760), ("007", 7)])
    func contentLengthIsALength(value: String, length: Int) {
        #expect(Self.framing([("Content-Length", value)]) == .length(length))
    }

    @Test(arguments: ["chunked", "Chunked", "CHUNKED", " chunked "])
    func chunkedTransferEncodingIsChunked(value: String) {
        #expect(Self.framing([("Transfer-Encoding", value)]) == .chunked)
    }

    @Test(arguments: [
        [("Content-Length", "5"), ("Transfer-Encoding", "chunked")],
        [("Transfer-Encoding", "chunked"), ("Content-Length", "5")],
        [("Transfer-Encoding", "chunked"), ("Content-Length", "0")],
    ])
    func contentLengthWithTransferEncodingIsInvalid(headers: [(String, String)]) {
        #expect(Self.framing(headers) == .invalid)
    }

    @Test(arguments: [
        [("Content-Length", "5"), ("Content-Length", "6")],
        [("Content-Length", "5, 6")],
        [("Content-Length", "5"), ("content-length", "50")],
    ])
    func differingContentLengthsAreInvalid(headers: [(String, String)]) {
        #expect(Self.framing(headers) == .invalid)
    }

    @Test(arguments: [
        [("Content-Length", "5"), ("Content-Length", "5")],
        [("Content-Length", "5, 5")],
        [("Content-Length", "5,5"), ("content-length", "5")],
    ])
    func equalDuplicateContentLengthsAreOneLength(headers: [(String, String)]) {
        #expect(Self.framing(headers) == .length(5))
    }

    @Test(arguments: ["abc", "-5", "+5", "5.0", "0x10", "5 5", "99999999999999999999999", "٥", "5, abc"])
    func nonDigitContentLengthIsInvalid(value: String) {
        #expect(Self.framing([("Content-Length", value)]) == .invalid)
    }

    /// RFC 9112 §6.3: a Content-Length that is not 1*DIGIT makes the framing invalid; it is not "no body".
    @Test(arguments: ["", " ", ","])
    func emptyContentLengthIsInvalid(value: String) {
        #expect(Self.framing([("Content-Length", value)]) == .invalid)
    }

    @Test(arguments: [
        [("Transfer-Encoding", "gzip, chunked")],
        [("Transfer-Encoding", "gzip"), ("Transfer-Encoding", "chunked")],
        [("Transfer-Encoding", "chunked, chunked")],
        [("Transfer-Encoding", "gzip")],
        [("Transfer-Encoding", "identity")],
        [("Transfer-Encoding", "chunked;foo=bar")],
        [("Transfer-Encoding", "")],
    ])
    func anyTransferEncodingButPlainChunkedIsInvalid(headers: [(String, String)]) {
        #expect(Self.framing(headers) == .invalid)
    }
}
