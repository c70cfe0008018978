import NIOHTTP1
import Testing
@testable import GatewayCore

/// Which requests ask to switch protocols, as NIO's parser (llhttp) sees them.
struct ProtocolUpgradeTests {
    static func head(_ headers: [(String, String)], method: HTTPMethod = .GET) -> HTTPRequestHead {
        HTTPRequestHead(version: .http1_1, method: method, uri: "/ws", headers: HTTPHeaders(headers))
    }

    @Test func aWebSocketHandshakeAsks() {
        let headers = HTTPHeaders([("Connection", "keep-alive, Upgrade"), ("Upgrade", "websocket")])
        #expect(ProtocolUpgrade.requested(headers) == "websocket")
        #expect(ProtocolUpgrade.endsParsing(Self.head(headers.map { ($0.name, $0.value) })))
        #expect(ProtocolUpgrade.lists("WebSocket", "websocket"))
        #expect(ProtocolUpgrade.lists("h2c, websocket/13", "websocket"))
    }

    @Test func upgradeWithoutConnectionUpgradeIsOnlyAnAnnouncement() {
        #expect(ProtocolUpgrade.requested(HTTPHeaders([("Upgrade", "websocket")])) == nil)
        #expect(ProtocolUpgrade.requested(HTTPHeaders([("Connection", "upgrades"), ("Upgrade", "websocket")])) == nil)
        #expect(!ProtocolUpgrade.endsParsing(Self.head([("Upgrade", "websocket")])))
    }

    @Test func connectionUpgradeWithoutUpgradeAsksNothing() {
        #expect(ProtocolUpgrade.requested(HTTPHeaders([("Connection", "Upgrade")])) == nil)
    }

    @Test func anotherProtocolAsksButIsNoWebSocket() {
        let upgrade = ProtocolUpgrade.requested(HTTPHeaders([("Connection", "Upgrade"), ("Upgrade", "h2c")]))
        #expect(upgrade == "h2c")
        #expect(!ProtocolUpgrade.lists(upgrade ?? "", "websocket"))
        #expect(!ProtocolUpgrade.lists("websockets", "websocket"))
    }

    @Test func connectEndsParsingToo() {
        #expect(ProtocolUpgrade.endsParsing(Self.head([], method: .CONNECT)))
    }
}
