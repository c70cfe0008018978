import Synchronization

/// The WebSocket tunnels open now, by session (docs/http.md#websocket): a revoked session's tunnels are closed when the
/// `RevocationList` learns of the revocation, at once for this gateway's own (logout, refresh-token reuse) and
/// within `revocation_poll` for other gateways' and the command line's (`RevocationWatcher`).
public final class OpenTunnels: Sendable {
    /// One tunnel's place in the registry, handed back when it closes.
    struct Registration: Sendable {
        let session: String?
        let id: UInt64
    }

    /// Session id → the closers of its tunnels (each hops to its tunnel's event loop).
    private let bySession = Mutex<[String: [UInt64: @Sendable () -> Void]]>([:])
    private let nextID = Atomic<UInt64>(0)
    private let open = Atomic<Int>(0)

    public init() {}

    /// Tunnels open now (with a session or without).
    public var count: Int { open.load(ordering: .relaxed) }

    /// A tunnel opened; `close` closes it (on its own event loop) when `session` is revoked. The caller checks
    /// the revocation list after this: a revocation that came in between finds the tunnel here, or is found there.
    func opened(session: String?, close: @escaping @Sendable () -> Void) -> Registration {
        open.add(1, ordering: .relaxed)
        let id = nextID.wrappingAdd(1, ordering: .relaxed).oldValue
        if let session {
            bySession.withLock { $0[session, default: [:]][id] = close }
        }
        return Registration(session: session, id: id)
    }

    func closed(_ registration: Registration) {
        open.subtract(1, ordering: .relaxed)
        guard let session = registration.session else { return }
        bySession.withLock { table in
            table[session]?[registration.id] = nil
            if table[session]?.isEmpty == true { table[session] = nil }
        }
    }

    /// Closes the tunnels of `sessions` (they were just revoked).
    func close(sessions: [String]) {
        guard !sessions.isEmpty else { return }
        let closers = bySession.withLock { table in
            table.isEmpty ? [] : sessions.flatMap { table[$0].map { Array($0.values) } ?? [] }
        }
        for close in closers { close() }
    }
}
