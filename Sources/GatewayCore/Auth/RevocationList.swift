import Synchronization

/// Sessions known to be revoked (docs/operations.md#revocation), checked on the hot path after a token verifies: an in-memory lookup,
/// never the store. Filled at once by this gateway's own revocations (logout, reuse detection) and by
/// `RevocationWatcher` with other gateways' revocations. Bounded by time: a revocation is forgotten once every
/// access token of the session has expired (`retention` after it), because an expired token goes to renewal,
/// which reads the session from the store and refuses it there.
public final class RevocationList: Sendable {
    /// Session id → when it was revoked; forgotten `retention` after.
    private let entries = Mutex<[String: UnixTime]>([:])
    /// How many entries there are: zero, the common case, skips the lock.
    private let count = Atomic<Int>(0)
    /// Only grows: a reload that shortens access_ttl leaves tokens minted before it valid for the old one.
    private let retained: Mutex<Duration>
    /// The WebSocket tunnels open now: a session revoked is refused here and its tunnels are closed (docs/http.md#websocket).
    public let tunnels = OpenTunnels()

    /// `retention`: the longest an access token minted before a revocation stays valid (access_ttl + leeway),
    /// plus a margin for clocks that differ between gateways.
    public init(retention: Duration) {
        self.retained = Mutex(retention)
    }

    public convenience init(tokens: TokensConfig) {
        self.init(retention: Self.retention(for: tokens))
    }

    static func retention(for tokens: TokensConfig) -> Duration {
        tokens.accessTTL + tokens.leeway + .seconds(60)
    }

    var retention: Duration { retained.withLock { $0 } }

    /// After a reload (docs/operations.md#reload): a longer access_ttl or leeway keeps revocations longer, the known ones included.
    func retainLonger(for tokens: TokensConfig) {
        retained.withLock { $0 = max($0, Self.retention(for: tokens)) }
    }

    public func contains(_ sessionID: String) -> Bool {
        guard count.load(ordering: .relaxed) > 0 else { return false }
        return entries.withLock { $0[sessionID] != nil }
    }

    /// Records revocations (sessions and when they were revoked); already-known ones keep their entry. The new
    /// ones' tunnels are closed: this is where every revocation enters, this gateway's own and the store's.
    public func add(_ revoked: some Sequence<(sessionID: String, revokedAt: UnixTime)>) {
        let added = entries.withLock { table in
            var added: [String] = []
            for (sessionID, revokedAt) in revoked where table[sessionID] == nil {
                table[sessionID] = revokedAt
                added.append(sessionID)
            }
            count.store(table.count, ordering: .relaxed)
            return added
        }
        tunnels.close(sessions: added)
    }

    public func add(_ sessionID: String, revokedAt: UnixTime) {
        add(CollectionOfOne((sessionID: sessionID, revokedAt: revokedAt)))
    }

    /// Forgets the revocations whose sessions can have no valid access token left at `now`.
    public func prune(at now: UnixTime) {
        let oldest = now - retention
        entries.withLock { table in
            guard table.values.contains(where: { $0 <= oldest }) else { return }
            table = table.filter { $0.value > oldest }
            count.store(table.count, ordering: .relaxed)
        }
    }

    var size: Int { count.load(ordering: .relaxed) }
}
