import Logging

/// Reads the revocations other gateways sharing the store made (docs/operations.md#revocation) every `store.revocation_poll` into the
/// `RevocationList`, and forgets the ones that no longer matter. Each read goes back `overlap` before the previous
/// one, so a revocation stamped by a gateway whose clock runs a little behind, or committed a little late, is still
/// seen; reading one twice is harmless. When the store cannot be reached, the known revocations stay in force and
/// the next read catches up from where the last good one started.
public final class RevocationWatcher: Sendable {
    let store: any SessionStore
    let list: RevocationList
    let interval: Duration
    let clock: WallClock
    let logger: Logger
    static let overlap = Duration.seconds(10)

    public init(store: any SessionStore, list: RevocationList, interval: Duration, clock: WallClock, logger: Logger) {
        self.store = store
        self.list = list
        self.interval = interval
        self.clock = clock
        self.logger = logger
    }

    /// Reads until cancelled: every `interval`, and at once whenever the store says a session was revoked
    /// (PostgreSQL's LISTEN/NOTIFY; `SessionStore.listenForRevocations`). A burst of notifications is one read. The
    /// first read reaches back over the list's retention: revocations made before this gateway started whose
    /// sessions may still hold valid access tokens.
    public func run() async {
        guard interval > .zero else { return }
        let (wakeups, wake) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        await withTaskGroup(of: Void.self) { group in
            group.addTask { [store] in await store.listenForRevocations { wake.yield() } }
            group.addTask { [interval] in
                while !Task.isCancelled {
                    wake.yield()
                    try? await Task.sleep(for: interval)
                }
                wake.finish()
            }
            var since = clock.now() - list.retention
            var failing = false
            for await _ in wakeups {
                let started = clock.now()
                do {
                    list.add(try await store.revokedSince(since))
                    list.prune(at: started)
                    since = started - Self.overlap
                    if failing { logger.info("revocations are read from the store again") }
                    failing = false
                } catch {
                    if !failing { logger.warning("cannot read revocations from the store; the known ones stay in force", metadata: ["error": "\(error)"]) }
                    failing = true
                }
            }
            group.cancelAll()
        }
    }
}
