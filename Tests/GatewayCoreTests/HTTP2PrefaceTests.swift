import Testing
@testable import GatewayCore

/// The plaintext listener's first-bytes verdict (RFC 9113 §3.3): HTTP/2 with prior knowledge, or HTTP/1.1.
@Suite struct HTTP2PrefaceTests {
    static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    @Test func theWholePrefaceIsHTTP2() {
        #expect(HTTP2Preface.classify(Self.preface) == .http2)
        // A SETTINGS frame usually arrives in the same read.
        #expect(HTTP2Preface.classify(Self.preface + [0, 0, 0, 4, 0, 0, 0, 0, 0]) == .http2)
    }

    @Test func everyProperPrefixWaitsForMore() {
        for length in 0..<Self.preface.count {
            #expect(HTTP2Preface.classify(Self.preface.prefix(length)) == .undecided, "\(length) bytes")
        }
    }

    @Test func anHTTP1RequestIsDecidedAtItsFirstDifferentByte() {
        #expect(HTTP2Preface.classify(Array("GET / HTTP/1.1\r\n".utf8)) == .http1)
        #expect(HTTP2Preface.classify(Array("P".utf8)) == .undecided)
        #expect(HTTP2Preface.classify(Array("POST / HTTP/1.1\r\n".utf8)) == .http1)
        // Same start, different request: "PRI * HTTP/1.1" is not the preface.
        #expect(HTTP2Preface.classify(Array("PRI * HTTP/1.1\r\n".utf8)) == .http1)
    }
}
