import Testing
@testable import GatewayCore

/// `ReloadRestrictions` (docs/operations.md#reload): the listeners and the store cannot change by reload; everything else may.
struct ReloadRestrictionsTests {
    static let running: GatewayConfig = {
        var config = GatewayConfig()
        config.server.listen = ListenAddress(host: "127.0.0.1", port: 8080)
        config.admin.listen = ListenAddress(host: "127.0.0.1", port: 9090)
        config.store.location = .postgres(url: "postgres://gateway:s3cret@db:5432/gateway")
        return config
    }()

    static func problems(_ change: (inout GatewayConfig) -> Void) -> [ConfigProblem] {
        var reloaded = running
        change(&reloaded)
        return ReloadRestrictions.problems(running: running, reloaded: reloaded, file: "gateway.conf")
    }

    @Test func everythingButTheListenersAndTheStoreMayChange() {
        #expect(Self.problems { _ in }.isEmpty)
        #expect(Self.problems {
            $0.server.idleTimeout = .seconds(5)
            $0.tokens.secretFile = "new.key"
            $0.routes = []
            $0.store.revocationPoll = .zero
        }.isEmpty)
    }

    @Test func eachFixedSettingIsOneProblemNamingItsKey() {
        let problems = Self.problems {
            $0.server.listen.port = 8081
            $0.admin.listen = nil
            $0.store.location = .sqlite(path: "var/gateway.db")
        }
        #expect(problems.map(\.key) == ["server.listen", "admin.listen", "store.url"])
        #expect(problems[0].description
            == "gateway.conf: server.listen: cannot change by reload (running on 127.0.0.1:8080, the file says 127.0.0.1:8081); restart the gateway to change it")
        #expect(problems[1].message.contains("the file says none"))
    }

    @Test func theStoreProblemNeverShowsItsURL() {
        let problem = Self.problems { $0.store.location = .postgres(url: "postgres://gateway:other@db:5432/gateway") }
        #expect(problem.count == 1)
        #expect(!problem[0].description.contains("s3cret") && !problem[0].description.contains("other"))
    }
}
