import Synchronization
import Testing
@testable import GatewayCore

/// `RevocationList` (docs/operations.md#revocation): revoked sessions are known until every access token of theirs has expired.
struct RevocationListTests {
    static let t0 = UnixTime(milliseconds: 1_750_000_000_000)

    @Test func aRevokedSessionIsKnownAndOthersAreNot() {
        let list = RevocationList(retention: .seconds(360))
        #expect(!list.contains("a"))
        list.add("a", revokedAt: Self.t0)
        list.add([(sessionID: "b", revokedAt: Self.t0), (sessionID: "a", revokedAt: Self.t0 + .seconds(100))])
        #expect(list.contains("a") && list.contains("b"))
        #expect(!list.contains("c"))
        #expect(list.size == 2)
    }

    @Test func aRevocationIsForgottenOnlyAfterItsRetention() {
        let list = RevocationList(retention: .seconds(360))
        list.add("early", revokedAt: Self.t0)
        list.add("late", revokedAt: Self.t0 + .seconds(100))
        list.prune(at: Self.t0 + .seconds(359))
        #expect(list.contains("early") && list.contains("late"))
        list.prune(at: Self.t0 + .seconds(360))
        #expect(!list.contains("early"))
        #expect(list.contains("late"))
        list.prune(at: Self.t0 + .seconds(460))
        #expect(list.size == 0)
    }

    @Test func theRetentionCoversTheLongestAccessTokenPlusAMargin() {
        var tokens = TokensConfig()
        tokens.accessTTL = .seconds(300)
        tokens.leeway = .seconds(10)
        #expect(RevocationList(tokens: tokens).retention == .seconds(370))
    }

    @Test func aReloadOnlyLengthensTheRetentionAndKnownRevocationsFollow() {
        var tokens = TokensConfig()
        tokens.accessTTL = .seconds(300)
        let list = RevocationList(tokens: tokens)
        list.add("a", revokedAt: Self.t0)
        tokens.accessTTL = .seconds(600)
        list.retainLonger(for: tokens)
        #expect(list.retention == .seconds(660))
        list.prune(at: Self.t0 + .seconds(659))
        #expect(list.contains("a"), "a token minted just before the revocation may live the new access_ttl")
        tokens.accessTTL = .seconds(60)
        list.retainLonger(for: tokens)
        #expect(list.retention == .seconds(660), "tokens minted under the longer access_ttl are still out there")
        list.prune(at: Self.t0 + .seconds(660))
        #expect(!list.contains("a"))
    }

    /// A store that fails, then answers: known revocations stay while it fails, and the next good read catches up.
    final class FlakyStore: SessionStore {
        struct State {
            var failing = true
            var revoked: [(sessionID: String, revokedAt: UnixTime)] = []
            var reads: [UnixTime] = []
        }
        let state = Mutex(State())
        var reads: [UnixTime] { state.withLock { $0.reads } }
        func create(_ session: Session) async throws {}
        func session(id: String) async throws -> Session? { nil }
        func replacement(ofRefreshJTI jti: String, sessionID: String) async throws -> RefreshReplacement? { nil }
        func update(sessionID: String, expecting expectation: SessionExpectation, change: SessionChange, now: UnixTime) async throws -> Bool { false }
        func revoke(sessionID: String, at now: UnixTime) async throws -> Bool { false }
        func revokeAll(sessionsOfUserIn sessionID: String, at now: UnixTime) async throws -> [String] { [] }
        func revokeAll(sessionsOf user: StoredUserIDs, at now: UnixTime) async throws -> [String] { [] }
        func sessions(of user: StoredUserIDs?, includeEnded: Bool, at now: UnixTime) async throws -> [Session] { [] }
        func revokedSince(_ since: UnixTime) async throws -> [(sessionID: String, revokedAt: UnixTime)] {
            try state.withLock { state in
                state.reads.append(since)
                if state.failing { throw StoreUnavailable("down") }
                return state.revoked.filter { $0.revokedAt >= since }
            }
        }
        func purge(endedBefore cutoff: UnixTime) async throws -> Int { 0 }
        func ping() async throws {}
        func close() async throws {}
    }

    @Test func theWatcherKeepsWhatItKnowsThroughAnOutageAndCatchesUpAfter() async throws {
        let store = FlakyStore()
        let list = RevocationList(retention: .seconds(360))
        list.add("known", revokedAt: Self.t0)
        let watcher = RevocationWatcher(store: store, list: list, interval: .milliseconds(10), clock: .fixed(Self.t0 + .seconds(5)),
                                        logger: .init(label: "test"))
        let task = Task { await watcher.run() }
        while store.reads.count < 3 { try await Task.sleep(for: .milliseconds(5)) }
        #expect(list.contains("known"), "the outage forgets nothing")
        store.state.withLock {
            $0.revoked = [(sessionID: "elsewhere", revokedAt: Self.t0 + .seconds(1))]
            $0.failing = false
        }
        while !list.contains("elsewhere") { try await Task.sleep(for: .milliseconds(5)) }
        task.cancel()
        await task.value
        // Every read during the outage started from the same point: nothing revoked meanwhile is skipped.
        #expect(Set(store.reads.prefix(3)).count == 1)
        #expect(store.reads[0] == Self.t0 + .seconds(5) - .seconds(360))
    }

    // MARK: open tunnels (docs/http.md#websocket)

    @Test func aNewRevocationClosesItsSessionsTunnelsOnceAndNoOthers() {
        let list = RevocationList(retention: .seconds(360))
        let closed = Mutex<[String]>([])
        let a1 = list.tunnels.opened(session: "a") { closed.withLock { $0.append("a1") } }
        _ = list.tunnels.opened(session: "a") { closed.withLock { $0.append("a2") } }
        _ = list.tunnels.opened(session: "b") { closed.withLock { $0.append("b") } }
        _ = list.tunnels.opened(session: nil) { closed.withLock { $0.append("public") } }
        #expect(list.tunnels.count == 4)
        list.tunnels.closed(a1)
        #expect(list.tunnels.count == 3)
        list.add("a", revokedAt: Self.t0)
        #expect(closed.withLock { $0 } == ["a2"])
        list.add([(sessionID: "a", revokedAt: Self.t0), (sessionID: "c", revokedAt: Self.t0)])
        #expect(closed.withLock { $0 } == ["a2"], "a revocation already known closes nothing again")
    }
}
