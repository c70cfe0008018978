import Testing
@testable import GatewayCore

/// The upgrade request a tunnel writes upstream itself: what curl would have sent for the same header lines.
struct UpgradeRequestHeadTests {
    static func text(_ url: String, _ lines: HeaderLines) -> String {
        String(decoding: UpgradeRequestHead.bytes(method: "GET", url: url, headerLines: lines), as: UTF8.self)
    }

    @Test func theRequestLineIsTheURLsPathAndQuery() {
        #expect(Self.text("http://127.0.0.1:9000/base/ws?a=1&b", ["Host: h"])
            == "GET /base/ws?a=1&b HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(Self.text("https://api.internal/", []) == "GET / HTTP/1.1\r\n\r\n")
    }

    @Test func linesAreReadAsCurlReadsThem() {
        var lines = HeaderLines()
        lines.append("Host: api")
        lines.append(name: "X-Empty", value: "")
        lines.append("Expect:")
        lines.append("Accept:  ")
        lines.append("Upgrade: websocket")
        #expect(Self.text("http://a/ws", lines) == "GET /ws HTTP/1.1\r\nHost: api\r\nX-Empty:\r\nUpgrade: websocket\r\n\r\n",
                "`Name:` only removes what curl would add; `Name;` is an empty header")
    }
}
