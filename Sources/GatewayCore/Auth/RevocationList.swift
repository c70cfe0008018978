import Synchronization

/// Sessions known to be revoked (SPEC §6.2), checked on the hot path after a token verifies: an in-memory lookup,
/// never the store. Filled at once by this gateway's own revocations (logout, reuse detection) and by
/// `RevocationWatcher` with other gateways' revocations. Bounded by time: a revocation is forgotten once every
/// access token of the session has expired (`retention` after it), because an expired token goes to renewal,
/// which reads the session from the store and refuses it there.
public final class RevocationList: Sendable {
    /// Session id → when the revocation may be forgotten.
    private let entries = Mutex<[String: UnixTime]>([:])
    /// How many entries there are: zero, the common case, skips the lock.
    private let count = Atomic<Int>(0)
    let retention: Duration

    /// `retention`: the longest an access token minted before a revocation stays valid (access_ttl + leeway),
    /// plus a margin for clocks that differ between gateways.
    public init(retention: Duration) {
        self.retention = retention
    }

    public convenience init(tokens: TokensConfig) {
        self.init(retention: tokens.accessTTL + tokens.leeway + .seconds(60))
    }

    public func contains(_ sessionID: String) -> Bool {
        guard count.load(ordering: .relaxed) > 0 else { return false }
        return entries.withLock { $0[sessionID] != nil }
    }

    /// Records revocations (sessions and when they were revoked); already-known ones keep their entry.
    public func add(_ revoked: some Sequence<(sessionID: String, revokedAt: UnixTime)>) {
        let retention = self.retention
        entries.withLock { table in
            for (sessionID, revokedAt) in revoked where table[sessionID] == nil {
                table[sessionID] = revokedAt + retention
            }
            count.store(table.count, ordering: .relaxed)
        }
    }

    public func add(_ sessionID: String, revokedAt: UnixTime) {
        add(CollectionOfOne((sessionID: sessionID, revokedAt: revokedAt)))
    }

    /// Forgets the revocations whose sessions can have no valid access token left at `now`.
    public func prune(at now: UnixTime) {
        entries.withLock { table in
            guard table.values.contains(where: { $0 <= now }) else { return }
            table = table.filter { $0.value > now }
            count.store(table.count, ordering: .relaxed)
        }
    }

    var size: Int { count.load(ordering: .relaxed) }
}
