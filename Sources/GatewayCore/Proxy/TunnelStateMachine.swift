import NIOCore

/// The rules of a WebSocket tunnel's client connection (docs/http.md#websocket) as a value: events in (the time passed in),
/// actions out; `TunnelHandler` runs them. Bytes flow both ways until either side closes. Reading from the client
/// waits until NIO's HTTP/1 decoder has left the pipeline, and while the upstream's buffer is full; a client that
/// reads nothing for `send_timeout` while its socket buffer stays full is closed; at shutdown the tunnel keeps
/// flowing for `shutdown_timeout`, then closes; a revoked session's tunnel closes at once. A tunnel has no idle
/// timeout: a quiet WebSocket is a normal one (its ends ping each other if they care).
///
/// States: `open` → `closing` (the upstream ended: what it sent is flushed to the client) → `closed`.
struct TunnelStateMachine {
    struct Settings: Equatable {
        /// `server.send_timeout`.
        var sendTimeout: TimeAmount
        /// `server.shutdown_timeout`.
        var shutdownTimeout: TimeAmount
    }

    enum Action: Equatable {
        case none
        /// Ask the channel for more bytes (a read held back while reading waited).
        case read
        /// Make the handler's one timer fire at this time (it fires no later than that).
        case scheduleTimer(NIODeadline)
        /// The client is done sending: the upstream gets what is buffered, then the tunnel ends.
        case finishUpstream
        /// The upstream ended the tunnel: flush what it sent to the client, then report `flushed`.
        case flushThenClose
        /// Close the client connection now; `cancelUpstream` closes the upstream's too.
        case close(CloseReason, cancelUpstream: Bool)
        /// The channel is gone; `cancelUpstream` closes the upstream connection.
        case stop(cancelUpstream: Bool)
    }

    /// Why a tunnel closes (for the log).
    enum CloseReason: Equatable {
        /// The upstream closed its connection.
        case upstreamClosed
        /// The upstream connection failed.
        case upstreamBrokeOff
        /// The client's connection failed.
        case clientGone
        /// Its session was revoked (docs/operations.md#revocation).
        case revoked
        /// `shutdown_timeout` after shutdown began.
        case shutdown
        /// `send_timeout`: the client read nothing while its socket buffer stayed full.
        case sendTimeout
    }

    private enum State: Equatable {
        case open
        /// The upstream ended (`success`: it closed; else it failed); the client gets what it sent, then the close.
        case closing(success: Bool)
        case closed
    }

    let settings: Settings
    private var state = State.open
    /// NIO's HTTP/1 decoder is still in the pipeline: bytes read now would land in it.
    private var codecInPlace = true
    private var upstreamFull = false
    /// The connection's handler before the switch held back the channel's last read: one is owed.
    private var readPending = true
    private var shutdownDeadline = NIODeadline.distantFuture
    private var sendDeadline = NIODeadline.distantFuture
    /// When the handler's one timer fires.
    private(set) var timerFiresAt: NIODeadline?

    init(settings: Settings) {
        self.settings = settings
    }

    // MARK: reading from the client

    /// NIO's HTTP/1 decoder has left the pipeline: raw bytes may be read.
    mutating func codecRemoved() -> Action {
        codecInPlace = false
        return flushPendingRead()
    }

    mutating func readRequested() -> Action {
        readPending = true
        return flushPendingRead()
    }

    /// The upstream's buffer took the client's bytes but is full now: reading waits for `upstreamWantsMore`.
    mutating func upstreamBufferFull() {
        upstreamFull = true
    }

    mutating func upstreamWantsMore() -> Action {
        upstreamFull = false
        return flushPendingRead()
    }

    /// The client half-closed: it sends nothing more, and a WebSocket that stops sending is done.
    mutating func clientInputClosed() -> Action {
        state == .open ? .finishUpstream : .none
    }

    // MARK: the ends

    /// The upstream closed (`success`) or failed.
    mutating func upstreamEnded(success: Bool) -> Action {
        guard state == .open else { return .none }
        state = .closing(success: success)
        return .flushThenClose
    }

    /// What the upstream sent before it ended reached the client (or could not).
    mutating func flushed() -> Action {
        guard case .closing(let success) = state else { return .none }
        return close(success ? .upstreamClosed : .upstreamBrokeOff)
    }

    /// The session was revoked.
    mutating func revoked() -> Action {
        close(.revoked)
    }

    /// An I/O error on the client's connection.
    mutating func connectionFailed() -> Action {
        close(.clientGone)
    }

    /// The channel is inactive.
    mutating func channelInactive() -> Action {
        let cancel = state == .open
        state = .closed
        timerFiresAt = nil
        return .stop(cancelUpstream: cancel)
    }

    // MARK: time

    /// Shutdown began: the tunnel keeps flowing until `shutdown_timeout` from now.
    mutating func quiesce(now: NIODeadline) -> Action {
        guard state != .closed, shutdownDeadline == .distantFuture else { return .none }
        shutdownDeadline = now + settings.shutdownTimeout
        return scheduleAction(shutdownDeadline)
    }

    mutating func writabilityChanged(isWritable: Bool, now: NIODeadline) -> Action {
        if isWritable {
            sendDeadline = .distantFuture
            return .none
        }
        guard state != .closed else { return .none }
        sendDeadline = now + settings.sendTimeout
        return scheduleAction(sendDeadline)
    }

    /// Bytes reached the client's socket: if its buffer is still full, the client gets more time.
    mutating func bytesWritten(now: NIODeadline) {
        guard sendDeadline != .distantFuture else { return }
        sendDeadline = now + settings.sendTimeout
    }

    mutating func timerFired(now: NIODeadline) -> Action {
        timerFiresAt = nil
        guard state != .closed else { return .none }
        if shutdownDeadline <= now { return close(.shutdown) }
        if sendDeadline <= now { return close(.sendTimeout) }
        let next = min(shutdownDeadline, sendDeadline)
        return next == .distantFuture ? .none : scheduleAction(next)
    }

    // MARK: private

    private mutating func flushPendingRead() -> Action {
        guard readPending, !codecInPlace, !upstreamFull, state == .open else { return .none }
        readPending = false
        return .read
    }

    private mutating func close(_ reason: CloseReason) -> Action {
        guard state != .closed else { return .none }
        let cancel = state == .open
        state = .closed
        timerFiresAt = nil
        return .close(reason, cancelUpstream: cancel)
    }

    /// Makes the timer fire no later than `deadline`.
    private mutating func scheduleAction(_ deadline: NIODeadline) -> Action {
        if let firesAt = timerFiresAt, firesAt <= deadline { return .none }
        timerFiresAt = deadline
        return .scheduleTimer(deadline)
    }
}
