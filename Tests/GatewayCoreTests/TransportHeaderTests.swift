import CCurl
import NIOHTTP1
import Testing
@testable import GatewayCore

/// The byte-level header handling of the transport (docs/http.md#forwarding): hop-by-hop names in any case, the names a
/// Connection header lists, the upstream's status line, and the header list handed to curl.
struct TransportHeaderTests {
    @Test(arguments: [
        "Connection", "connection", "KEEP-ALIVE", "Proxy-Authorization", "proxy-anything", "TE", "Trailer", "trailers",
        "Transfer-Encoding", "UPGRADE",
    ])
    func fixedHopByHopNamesInAnyCase(name: String) {
        #expect(HopByHop.isFixed(name.utf8))
    }

    @Test(arguments: ["Content-Type", "Tee", "Trailer-X", "X-Proxy-Id", "Proxy", "Upgrade-Insecure-Requests", ""])
    func endToEndNames(name: String) {
        #expect(!HopByHop.isFixed(name.utf8))
    }

    @Test func connectionListsNamesLowerCasedAndTrimmedAcrossHeaders() {
        let headers = HTTPHeaders([("Connection", " X-One ,\tx-TWO,, keep-alive"), ("connection", "close"), ("X-One", "1")])
        #expect(HopByHop.connectionListed(in: headers) == ["x-one", "x-two", "close"])
        #expect(HopByHop.isHopByHop("X-ONE".utf8, listed: ["x-one"]))
        #expect(!HopByHop.isHopByHop("X-Three".utf8, listed: ["x-one"]))
    }

    // RFC 9112 §6.3: which complete response heads must not reach the client.
    @Test func anUnasked101IsAViolationAnAskedOneIsNot() {
        #expect(ResponseHeadReader.framingViolation(status: .switchingProtocols, upgradeRequested: false,
                                                    conflictingContentLength: false, sawTransferEncoding: false) != nil)
        #expect(ResponseHeadReader.framingViolation(status: .switchingProtocols, upgradeRequested: true,
                                                    conflictingContentLength: false, sawTransferEncoding: false) == nil)
    }

    @Test func conflictingContentLengthIsAViolationUnlessTransferEncodingOverridesIt() {
        #expect(ResponseHeadReader.framingViolation(status: .ok, upgradeRequested: false, conflictingContentLength: true,
                                                    sawTransferEncoding: false) != nil)
        #expect(ResponseHeadReader.framingViolation(status: .ok, upgradeRequested: false, conflictingContentLength: true,
                                                    sawTransferEncoding: true) == nil)
    }

    @Test func anOrdinaryHeadIsFine() {
        #expect(ResponseHeadReader.framingViolation(status: .ok, upgradeRequested: false, conflictingContentLength: false,
                                                    sawTransferEncoding: false) == nil)
        #expect(ResponseHeadReader.framingViolation(status: .notFound, upgradeRequested: false,
                                                    conflictingContentLength: false, sawTransferEncoding: true) == nil)
    }

    static func status(_ line: String) -> HTTPResponseStatus {
        Array(line.utf8).withUnsafeBytes { ResponseHeadReader.status(ofStatusLine: $0) }
    }

    @Test func statusLineGivesTheCode() {
        #expect(Self.status("HTTP/1.1 200 OK") == .ok)
        #expect(Self.status("HTTP/1.1 404 Whatever Words") == .notFound)
        #expect(Self.status("HTTP/1.0 204") == .noContent)
        #expect(Self.status("HTTP/1.1  503  Busy") == .serviceUnavailable)
    }

    @Test func nonStandardCodeKeepsItsReasonPhrase() {
        let status = Self.status("HTTP/1.1 299 Quite Fine")
        #expect(status.code == 299)
        #expect(status.reasonPhrase == "Quite Fine")
    }

    @Test func malformedStatusLineIsABadGateway() {
        #expect(Self.status("HTTP/1.1 abc OK") == .badGateway)
        #expect(Self.status("HTTP/1.1") == .badGateway)
    }

    static func strings(_ list: UnsafeMutablePointer<curl_slist>?) -> [String] {
        var result: [String] = []
        var node = list
        while let current = node {
            result.append(String(cString: current.pointee.data))
            node = current.pointee.next
        }
        return result
    }

    @Test func headerListIsTheLinesInOrderAndGrowsWhenReused() {
        let storage = CurlHeaderList(nodeCapacity: 2, byteCapacity: 8)
        #expect(storage.layOut([]) == nil)
        #expect(Self.strings(storage.layOut(["A: 1", "Expect:"])) == ["A: 1", "Expect:"])
        let long = (0..<40).map { "X-Header-\($0): " + String(repeating: "v", count: $0) }
        #expect(Self.strings(storage.layOut(HeaderLines(long))) == long)
        #expect(Self.strings(storage.layOut(["Host: h"])) == ["Host: h"])
    }

    @Test func requestIDHexKeepsLeadingZeros() {
        #expect(RequestID.hex(0) == "0000000000000000")
        #expect(RequestID.hex(0xAB) == "00000000000000ab")
        #expect(RequestID.hex(.max) == "ffffffffffffffff")
    }

    @Test func headerLinesTurnCRLFAndNULIntoSpacesSoEachLineStaysOneHeader() {
        var lines = HeaderLines()
        lines.append(name: "X-Auth-User-Id", value: "7\r\nX-Injected: yes")
        lines.append(name: "X-Other", value: "a\u{0}Evil: 1")
        lines.append("Expect:")
        #expect(lines.lines == ["X-Auth-User-Id: 7  X-Injected: yes", "X-Other: a Evil: 1", "Expect:"])
        // curl reads C strings: the list must still be three lines, in order, none cut short.
        let storage = CurlHeaderList()
        #expect(Self.strings(storage.layOut(lines)) == lines.lines)
    }

    @Test func headerLinesJoinPartsAndKeepOrder() {
        var lines = HeaderLines(reservingCapacity: 4)
        lines.append("X-Forwarded-For: ", "203.0.113.1", ", ", "192.0.2.7")
        lines.append(name: "Ünï", value: "çødé")
        lines.append(name: "X-Empty", value: "")
        lines.append("Expect:")
        #expect(lines.count == 4)
        #expect(lines.lines == ["X-Forwarded-For: 203.0.113.1, 192.0.2.7", "Ünï: çødé", "X-Empty;", "Expect:"])
        #expect(HeaderLines().lines.isEmpty)
        #expect(HeaderLines(["A: 1", ""]).lines == ["A: 1", ""])
    }
}
