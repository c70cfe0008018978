import Logging
import ServiceLifecycle

/// Deletes sessions that ended (expired or revoked) more than `retention` ago, every `interval`.
/// Keeping them a while lets a reused refresh token still be recognised as "blacklisted" after its
/// session was revoked, rather than "invalid".
public struct SessionJanitor: Service {
    let store: any SessionStore
    let clock: WallClock
    let interval: Duration
    let retention: Duration
    let logger: Logger

    public init(store: any SessionStore, clock: WallClock = .system, interval: Duration = .seconds(600),
                retention: Duration = .seconds(86_400), logger: Logger) {
        self.store = store
        self.clock = clock
        self.interval = interval
        self.retention = retention
        self.logger = logger
    }

    public func run() async throws {
        // Graceful shutdown cancels the sleep, so the janitor never holds up the process's exit.
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await sweep()
                try await Task.sleep(for: interval)
            }
        }
    }

    /// One pass; store failures are logged and retried next time.
    public func sweep() async {
        do {
            let removed = try await store.purge(endedBefore: clock.now() - retention)
            if removed > 0 { logger.info("purged ended sessions", metadata: ["count": "\(removed)"]) }
        } catch {
            logger.warning("session purge failed", metadata: ["error": "\(error)"])
        }
    }
}
