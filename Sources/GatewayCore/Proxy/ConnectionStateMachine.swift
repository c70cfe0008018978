import NIOCore
import NIOHTTP1

/// The rules of one client connection as a value: events in (with the time passed in), actions out. It orders
/// requests and responses (pipelining, keep-alive, lingering close, shutdown), both directions' backpressure and
/// the connection's deadlines; `ProxyHandler` turns NIO events into its events and runs its actions. Route
/// matching, auth and building the upstream request stay outside: they are decided before `headReceived`.
///
/// States: `idle` (waiting for a head) → `answered` (an answer written, the request body still arriving) |
/// `deciding` (an endpoint or auth decision pending, the body held) | `proxying` (an upstream exchange) →
/// `idle` again, or `closing` (the last response is flushing) → `lingering` (half-closed, draining the client)
/// → `closed`; or, for a WebSocket request the upstream answered with 101, `switched` (the connection belongs to
/// a `TunnelHandler` from then on). Pipelined parts that arrive while a response is pending wait in `queued`.
struct ConnectionStateMachine {
    struct Settings: Equatable {
        /// `server.idle_timeout`: between requests, and between reads of a request body.
        var idleTimeout: TimeAmount
        /// `server.send_timeout`.
        var sendTimeout: TimeAmount
        /// `server.max_body_bytes`.
        var maxBodyBytes: Int
        /// How long a connection answered before its request was read keeps draining the client.
        var lingerTime: TimeAmount = .seconds(2)
        /// A held body (while a decision is pending) beyond this pauses reading.
        var heldBodyBytes = 256 * 1024
    }

    /// What the machine needs of a request head.
    struct Request: Equatable {
        var method: HTTPMethod
        var language: Language
        /// The client asked to keep the connection open.
        var keepAlive: Bool
        var upgrade = Upgrade.none
    }

    /// Whether a request asks to switch protocols (`ProtocolUpgrade`), and what becomes of it.
    enum Upgrade: Equatable {
        case none
        /// Not made (docs/http.md#forwarding drops `Upgrade`): the request is answered as any other, and its response closes the
        /// connection, since NIO's parser reads nothing after a request that asked to switch.
        case declined
        /// A WebSocket tunnel (docs/http.md#websocket): reading stops at its head (the client's next bytes belong to the tunnel)
        /// and an upstream's 101 hands the connection over; any other answer closes it.
        case tunnel
    }

    /// What the handler decided a request head is (route match and auth happen before, outside).
    enum HeadVerdict: Equatable {
        /// The gateway answers now (a malformed head, 404, 405, a denial known without I/O).
        case answer(GatewayError, headers: HTTPHeaders = [:])
        /// One of the gateway's own endpoints: it gets the whole body.
        case endpoint
        /// Forward now.
        case forward(UpstreamTimeouts, expectContinue: Bool)
        /// Auth needs the store: the body is held until `decisionArrived`.
        case authorize
    }

    /// A route's upstream deadlines.
    struct UpstreamTimeouts: Equatable {
        /// `upstreams[].timeout`: no response head by then is 504.
        var response: TimeAmount
        /// `upstreams[].read_timeout`: silent this long mid-body closes the connection.
        var read: TimeAmount
    }

    enum Decision: Equatable {
        case forward(UpstreamTimeouts)
        case deny(GatewayError, headers: HTTPHeaders = [:])
    }

    /// Where an arriving request part goes.
    enum Arrival: Equatable {
        /// Handle it now (a head: classify it, then `headReceived`).
        case handle
        /// Pipelined behind a response still pending: it comes back through `nextQueuedPart`.
        case queued
        /// The connection is ending: nothing more is read into it.
        case ignored
    }

    private enum State {
        case idle
        case answered(keepAlive: Bool)
        case deciding(Deciding)
        case proxying(Proxying)
        case closing
        case lingering
        case closed
        /// The upstream switched protocols: the connection is a tunnel's, this machine's part is over.
        case switched
        /// Only while a held body is appended to (so the array is not copied).
        case modifying
    }

    private struct Deciding {
        var request: Request
        var keepAlive: Bool
        var isEndpoint: Bool
        var body: [ByteBuffer] = []
        var bodyBytes = 0
        var ended = false
    }

    private struct Proxying {
        var request: Request
        var keepAlive: Bool
        var responseDeadline: NIODeadline
        var readTimeout: TimeAmount
        /// Mid-body, the upstream silent until then (while the client keeps up): the connection is closed.
        var readDeadline = NIODeadline.distantFuture
        var requestEnded = false
        var responseStarted = false
        var responseEnded = false
        var bodyBytes = 0
    }

    let settings: Settings
    private let allocator: ByteBufferAllocator
    private var state = State.idle
    /// When the handler's one timer fires; it is only moved when a deadline comes earlier, and when it fires the
    /// machine acts on what is due or sleeps until the next deadline (a keep-alive request so costs no timer work).
    private(set) var timerFiresAt: NIODeadline?
    private var idleDeadline = NIODeadline.distantFuture
    /// While a request body is read: the client must send more by then (not while the gateway paused reading).
    private var bodyDeadline = NIODeadline.distantFuture
    /// While the client reads nothing of what is queued for it.
    private var sendDeadline = NIODeadline.distantFuture
    /// Reading stops while the upstream's request buffer is full (or a held body grows), or while pipelined
    /// requests pile up; a read asked for meanwhile is passed on when both are over.
    private var readPausedForBody = false
    private var readPausedForQueue = false
    /// From a tunnel request's head on: what the client sends next is the tunnel's.
    private var readPausedForSwitch = false
    private var readPending = false
    private var queued = CircularBuffer<HTTPServerRequestPart>()
    private var queuedBytes = 0
    /// The current request's `.end` has arrived.
    private var requestComplete = false
    private var quiescing = false
    /// The client half-closed its side: requests already read are answered, then the connection closes.
    private var clientHalfClosed = false
    /// A malformed request pipelined behind one still being answered: its error is written after that answer.
    private var parseErrorAfterQueue: GatewayError?

    init(settings: Settings, allocator: ByteBufferAllocator = ByteBufferAllocator()) {
        self.settings = settings
        self.allocator = allocator
    }

    // MARK: the channel

    /// The channel is active (or the handler was added to an active one): the idle timer starts.
    mutating func channelActive(now: NIODeadline) -> Action {
        guard case .idle = state else { return .none }
        idleDeadline = now + settings.idleTimeout
        return scheduleAction(idleDeadline)
    }

    mutating func channelInactive() -> Action {
        let cancel = upstreamRunning
        state = .closed
        timerFiresAt = nil
        return .stop(cancelUpstream: cancel)
    }

    /// The channel asks to read: passed on unless reading is paused.
    mutating func readRequested() -> Action {
        if readPausedForBody || readPausedForQueue || readPausedForSwitch {
            readPending = true
            return .none
        }
        return .read
    }

    mutating func writabilityChanged(isWritable: Bool, now: NIODeadline) -> Action {
        if isWritable {
            sendDeadline = .distantFuture
            // The client caught up: from now on a silent upstream is the upstream's fault.
            if case .proxying(var flight) = state, flight.responseStarted, !flight.responseEnded {
                flight.readDeadline = now + flight.readTimeout
                state = .proxying(flight)
            }
            return .none
        }
        if isEnding { return .none }
        sendDeadline = now + settings.sendTimeout
        return scheduleAction(sendDeadline)
    }

    /// Response bytes reached the client's socket: if its buffer is still full, the client gets more time.
    mutating func responseBodyWritten(now: NIODeadline) {
        guard sendDeadline != .distantFuture else { return }
        sendDeadline = now + settings.sendTimeout
    }

    /// Graceful shutdown: the current response is finished, then the connection closes.
    mutating func quiesce() -> Action {
        quiescing = true
        if case .idle = state, queued.isEmpty { return close(.quiesced) }
        return .none
    }

    /// The client half-closed (it sent FIN): what it sent in full is still answered (RFC 9112 §9.6 lets a client
    /// close its sending side after a request); a request it broke off is abandoned.
    mutating func inputClosed() -> Action {
        clientHalfClosed = true
        switch state {
        case .closing, .lingering:
            // Lingering after a response that ended the connection: the client has read it and is done.
            state = .closed
            return .close(.inputClosed, cancelUpstream: false)
        case .closed, .switched, .modifying:
            return .none
        case .idle:
            return queued.isEmpty ? close(.inputClosed) : .none
        case .answered, .deciding, .proxying:
            return requestComplete ? .none : close(.inputClosed)
        }
    }

    /// An I/O error, or the client's EOF in the middle of a request: nothing to answer.
    mutating func connectionFailed() -> Action {
        close(.clientGone)
    }

    /// The bytes after the last part did not parse (`problem` is 400, or 431 for an oversized head).
    mutating func parseError(_ problem: GatewayError, now: NIODeadline) -> Action {
        if requestComplete && !isIdleOrEnding {
            // They come after a request that was read in full and is still being answered: answer that one
            // first, then this error, then close (reading is over: the parser stopped).
            if parseErrorAfterQueue == nil { parseErrorAfterQueue = problem }
            readPausedForQueue = true
            return .none
        }
        switch state {
        case .idle, .answered, .deciding:
            return answer(problem, for: Request(method: .GET, language: .english, keepAlive: false), keepAlive: false,
                          requestEnded: false, now: now)
        case .proxying(let flight) where !flight.responseStarted:
            return answer(problem, for: flight.request, keepAlive: false, requestEnded: false,
                          cancelUpstream: !flight.responseEnded, now: now)
        case .proxying, .closing, .lingering, .closed, .switched, .modifying:
            return close(.clientGone)
        }
    }

    // MARK: the request

    /// Every part read from the client comes here first: a part pipelined behind a response still pending waits.
    mutating func partArrived(_ part: HTTPServerRequestPart) -> Arrival {
        if mustQueue {
            queued.append(part)
            if case .body(let buffer) = part { queuedBytes += buffer.readableBytes }
            if queued.count > 16 || queuedBytes > 64 * 1024 { readPausedForQueue = true }
            return .queued
        }
        // NIO's decoder delivers a head only after the previous request's end, so a head that is not queued
        // finds the connection idle, or ending.
        if case .head = part, !isIdle { return .ignored }
        return .handle
    }

    /// A request head, classified by the handler.
    mutating func headReceived(_ request: Request, _ verdict: HeadVerdict, now: NIODeadline) -> Action {
        guard case .idle = state else { return .none }
        requestComplete = false
        bodyDeadline = now + settings.idleTimeout
        let keepAlive = request.keepAlive && !quiescing && request.upgrade == .none
        if request.upgrade == .tunnel { readPausedForSwitch = true }
        switch verdict {
        case .answer(let error, let headers):
            return answer(error, for: request, keepAlive: keepAlive, headers: headers, requestEnded: false, now: now)
        case .endpoint, .authorize:
            state = .deciding(Deciding(request: request, keepAlive: keepAlive, isEndpoint: verdict == .endpoint))
            return .none
        case .forward(let timeouts, let expectContinue):
            return startUpstream(request, keepAlive: keepAlive, timeouts: timeouts, sendContinue: expectContinue,
                                 held: nil, now: now)
        }
    }

    mutating func bodyReceived(_ buffer: ByteBuffer, now: NIODeadline) -> Action {
        bodyDeadline = now + settings.idleTimeout
        switch state {
        case .proxying(var flight):
            flight.bodyBytes += buffer.readableBytes
            if flight.bodyBytes > settings.maxBodyBytes {
                if flight.responseEnded || flight.responseStarted { return close(.bodyTooLarge) }
                flight.responseEnded = true
                state = .proxying(flight)
                return answer(.payloadTooLarge, for: flight.request, keepAlive: false, requestEnded: false,
                              cancelUpstream: true, now: now)
            }
            state = .proxying(flight)
            return flight.responseEnded ? .none : .sendBodyToUpstream(buffer)
        case .deciding(var pending):
            pending.bodyBytes += buffer.readableBytes
            if pending.bodyBytes > settings.maxBodyBytes {
                return answer(.payloadTooLarge, for: pending.request, keepAlive: false, requestEnded: false, now: now)
            }
            state = .modifying
            pending.body.append(buffer)
            if pending.bodyBytes > settings.heldBodyBytes { readPausedForBody = true }
            state = .deciding(pending)
            return .none
        case .idle, .answered, .closing, .lingering, .closed, .switched, .modifying:
            return .none
        }
    }

    mutating func endReceived(now: NIODeadline) -> Action {
        requestComplete = true
        switch state {
        case .proxying(var flight):
            flight.requestEnded = true
            state = .proxying(flight)
            // A tunnel's upstream body is what the client sends after the switch: the request's end is not its end.
            if !flight.responseEnded { return flight.request.upgrade == .tunnel ? .none : .finishUpstreamBody }
            return exchangeOver(keepAlive: flight.keepAlive, now: now)
        case .answered(let keepAlive):
            // The answer was written already; the request has now been read to its end.
            return exchangeOver(keepAlive: keepAlive, now: now)
        case .deciding(var pending):
            pending.ended = true
            guard pending.isEndpoint else {
                state = .deciding(pending)
                return .none
            }
            let body = joined(pending.body, bytes: pending.bodyBytes)
            pending.body = []
            state = .deciding(pending)
            return .respondFromEndpoint(body: body)
        case .idle, .closing, .lingering, .closed, .switched, .modifying:
            return .none
        }
    }

    /// The upstream took what it had buffered of the request body.
    mutating func upstreamWantsMoreRequestBody(now: NIODeadline) -> Action {
        resumeReading(now: now) ? .read : .none
    }

    /// `sendBodyToUpstream` found the upstream's request buffer full.
    mutating func upstreamRequestBodyFull() {
        readPausedForBody = true
    }

    // MARK: decisions

    /// Auth decided (an `authorize` verdict).
    mutating func decisionArrived(_ decision: Decision, now: NIODeadline) -> Action {
        guard case .deciding(let pending) = state, !pending.isEndpoint else { return .none }
        switch decision {
        case .forward(let timeouts):
            return startUpstream(pending.request, keepAlive: pending.keepAlive, timeouts: timeouts, sendContinue: false,
                                 held: pending, now: now)
        case .deny(let error, let headers):
            return answer(error, for: pending.request, keepAlive: pending.keepAlive && pending.ended, headers: headers,
                          requestEnded: pending.ended, now: now)
        }
    }

    mutating func endpointResponded(_ response: LocalResponse, now: NIODeadline) -> Action {
        guard case .deciding(let pending) = state, pending.isEndpoint else { return .none }
        return .writeLocalResponse(response, keepAlive: pending.keepAlive,
                                   endResponse(requestEnded: true, keepAlive: pending.keepAlive, now: now))
    }

    mutating func endpointFailed(_ error: GatewayError, headers: HTTPHeaders = [:], now: NIODeadline) -> Action {
        guard case .deciding(let pending) = state, pending.isEndpoint else { return .none }
        return answer(error, for: pending.request, keepAlive: pending.keepAlive, headers: headers, requestEnded: true, now: now)
    }

    // MARK: the upstream's response (one delivery: head?, body?, then ended / failed / deliveryWritten)

    mutating func upstreamResponseHead() -> Action {
        guard case .proxying(var flight) = state, !flight.responseEnded else { return .none }
        flight.responseStarted = true
        state = .proxying(flight)
        return .writeResponseHead(closeConnection: !flight.keepAlive || quiescing)
    }

    /// The upstream answered a tunnel request with 101: its head is written and the connection handed over.
    mutating func upstreamSwitchedProtocols() -> Action {
        guard case .proxying(let flight) = state, flight.request.upgrade == .tunnel, !flight.responseStarted,
              !flight.responseEnded else { return .none }
        state = .switched
        timerFiresAt = nil
        return .switchProtocols(quiescing: quiescing)
    }

    /// `last`: the delivery also ends the response (nothing more will be produced, nothing to give back).
    mutating func upstreamResponseBody(_ buffer: ByteBuffer, last: Bool) -> Action {
        guard case .proxying(let flight) = state, !flight.responseEnded else { return .none }
        return .writeResponseBody(buffer, flowControlled: !last)
    }

    /// A delivery that does not end the response is written: the upstream owes more by `read_timeout`.
    mutating func upstreamDeliveryWritten(now: NIODeadline) -> Action {
        guard case .proxying(var flight) = state, !flight.responseEnded else { return .none }
        flight.readDeadline = now + flight.readTimeout
        state = .proxying(flight)
        return .flush(timer: schedule(flight.readDeadline))
    }

    mutating func upstreamResponseEnded(now: NIODeadline) -> Action {
        guard case .proxying(var flight) = state, !flight.responseEnded else { return .none }
        flight.responseEnded = true
        state = .proxying(flight)
        return .writeResponseEnd(endResponse(requestEnded: flight.requestEnded, keepAlive: flight.keepAlive, now: now))
    }

    mutating func upstreamFailed(now: NIODeadline) -> Action {
        guard case .proxying(var flight) = state, !flight.responseEnded else { return .none }
        flight.responseEnded = true
        state = .proxying(flight)
        // Never let a truncated body look complete: drop the connection.
        if flight.responseStarted { return close(.upstreamBrokeOff) }
        return upstreamError(.upstreamUnavailable, flight, now: now)
    }

    // MARK: writing

    /// The `.end` of a response that ends the connection was flushed (or failed to be).
    mutating func responseFlushed(success: Bool, now: NIODeadline) -> Action {
        guard case .closing = state else { return .none }
        guard success, !requestComplete else {
            state = .closed
            return .close(.done, cancelUpstream: false)
        }
        // The client is probably still sending: closing now, with its bytes unread, makes the kernel answer with
        // RST, which can destroy the response before the client reads it. So half-close (the client sees the
        // response, then EOF), read and drop what it still sends, and close when it closes or at the deadline.
        state = .lingering
        queued.removeAll()
        queuedBytes = 0
        readPausedForBody = false
        readPausedForQueue = false
        readPausedForSwitch = false
        let read = flushPendingRead()
        let until = now + settings.lingerTime
        timerFiresAt = until
        return .halfCloseAndLinger(read: read, timer: until)
    }

    // MARK: pipelining

    /// The next queued part to handle now that the previous exchange is over (nil while one is still pending).
    mutating func nextQueuedPart() -> HTTPServerRequestPart? {
        guard let part = queued.first, !mustQueueNext else { return nil }
        queued.removeFirst()
        if case .body(let buffer) = part { queuedBytes -= buffer.readableBytes }
        return part
    }

    /// `nextQueuedPart` returned nil: what is left to do.
    mutating func queueDrained(now: NIODeadline) -> Action {
        if queued.isEmpty, case .idle = state {
            if let problem = parseErrorAfterQueue {
                parseErrorAfterQueue = nil
                return answer(problem, for: Request(method: .GET, language: .english, keepAlive: false),
                              keepAlive: false, requestEnded: false, now: now)
            }
            if quiescing { return close(.quiesced) }
            if clientHalfClosed { return close(.inputClosed) }
        }
        if queued.isEmpty, clientHalfClosed, !requestComplete, !isIdleOrEnding {
            // The client half-closed in the middle of a pipelined request: it can never finish it.
            return close(.inputClosed)
        }
        if parseErrorAfterQueue != nil { return .none }
        if readPausedForQueue && queued.count <= 4 && queuedBytes <= 16 * 1024 {
            readPausedForQueue = false
            return flushPendingRead() ? .read : .none
        }
        return .none
    }

    // MARK: the timer

    mutating func timerFired(now: NIODeadline) -> Action {
        timerFiresAt = nil
        if case .lingering = state {
            state = .closed
            return .close(.lingerOver, cancelUpstream: false)
        }
        guard let deadline = currentDeadline else { return .none }
        guard deadline <= now else { return scheduleAction(deadline) }
        if sendDeadline <= now { return close(.sendTimeout) }
        switch state {
        case .idle:
            return close(.idleTimeout)
        case .proxying(var flight) where !flight.responseEnded && !flight.responseStarted && flight.responseDeadline <= now:
            flight.responseEnded = true
            state = .proxying(flight)
            var action = upstreamError(.upstreamTimeout, flight, now: now, cancelUpstream: true)
            if case .writeError(let response, let cancel, .keepReading(_)) = action, let next = currentDeadline {
                action = .writeError(response, cancelUpstream: cancel, .keepReading(timer: schedule(next)))
            }
            return action
        case .proxying(let flight) where !flight.responseEnded && flight.responseStarted && flight.readDeadline <= now:
            return close(.upstreamStalled)
        default:
            // What is left is the request body: the client stopped sending it.
            return close(.requestBodyStalled)
        }
    }

    // MARK: private

    private var isIdle: Bool {
        if case .idle = state { return true }
        return false
    }

    /// The connection is ending: nothing more is answered on it.
    private var isEnding: Bool {
        switch state {
        case .closing, .lingering, .closed, .switched, .modifying: true
        case .idle, .answered, .deciding, .proxying: false
        }
    }

    private var isIdleOrEnding: Bool { isIdle || isEnding }

    /// A pipelined request waits while the previous one's response is still pending.
    private var mustQueue: Bool {
        if isIdleOrEnding { return false }
        return requestComplete || !queued.isEmpty
    }

    /// Like `mustQueue`, for the queue's own head (which is not behind itself).
    private var mustQueueNext: Bool {
        if isIdle { return false }
        if isEnding { return true }
        return requestComplete
    }

    private var upstreamRunning: Bool {
        if case .proxying(let flight) = state { return !flight.responseEnded }
        return false
    }

    /// The earliest of the deadlines that apply now: a request while idle; the rest of the request body while
    /// one is being read (unless the gateway itself paused reading); the response head, then upstream progress
    /// mid-body, while proxying; the client's reading while its socket buffer stays full.
    private var currentDeadline: NIODeadline? {
        var earliest = sendDeadline
        switch state {
        case .idle:
            return min(idleDeadline, earliest)
        case .closing, .lingering, .closed, .switched, .modifying:
            return nil
        case .proxying(let flight) where !flight.responseEnded:
            earliest = min(earliest, flight.responseStarted ? flight.readDeadline : flight.responseDeadline)
        case .proxying, .answered, .deciding:
            break
        }
        if !requestComplete && !readPausedForBody { earliest = min(earliest, bodyDeadline) }
        return earliest == .distantFuture ? nil : earliest
    }

    /// Makes the timer fire no later than `deadline`: the new time when it has to move, nil when it fires earlier.
    private mutating func schedule(_ deadline: NIODeadline) -> NIODeadline? {
        if let firesAt = timerFiresAt, firesAt <= deadline { return nil }
        timerFiresAt = deadline
        return deadline
    }

    private mutating func scheduleAction(_ deadline: NIODeadline) -> Action {
        schedule(deadline).map(Action.scheduleTimer) ?? .none
    }

    private mutating func startUpstream(_ request: Request, keepAlive: Bool, timeouts: UpstreamTimeouts,
                                        sendContinue: Bool, held: Deciding?, now: NIODeadline) -> Action {
        var flight = Proxying(request: request, keepAlive: keepAlive, responseDeadline: now + timeouts.response,
                              readTimeout: timeouts.read)
        flight.requestEnded = held?.ended ?? false
        flight.bodyBytes = held?.bodyBytes ?? 0
        state = .proxying(flight)
        let timer = schedule(flight.responseDeadline)
        let read = held != nil && resumeReading(now: now)
        let finish = (held?.ended ?? false) && request.upgrade != .tunnel
        return .startUpstream(UpstreamStart(sendContinue: sendContinue, heldBody: held?.body ?? [],
                                            finishBody: finish, read: read, timer: timer))
    }

    /// An error the gateway answers itself, closing the connection when the error requires it or the client asked.
    private mutating func answer(_ error: GatewayError, for request: Request, keepAlive: Bool,
                                 headers: HTTPHeaders = [:], requestEnded: Bool, cancelUpstream: Bool = false,
                                 now: NIODeadline) -> Action {
        let keep = keepAlive && !error.closesConnection
        let response = ErrorResponse(error: error, method: request.method, language: request.language,
                                     keepAlive: keep, headers: headers)
        if keep && !requestEnded { state = .answered(keepAlive: true) }
        return .writeError(response, cancelUpstream: cancelUpstream,
                           endResponse(requestEnded: requestEnded, keepAlive: keep, now: now))
    }

    /// 502 or 504 in place of the upstream's response (the exchange stays the current one: the rest of the
    /// request body still counts against `max_body_bytes`).
    private mutating func upstreamError(_ error: GatewayError, _ flight: Proxying, now: NIODeadline,
                                        cancelUpstream: Bool = false) -> Action {
        let response = ErrorResponse(error: error, method: flight.request.method, language: flight.request.language,
                                     keepAlive: flight.keepAlive)
        return .writeError(response, cancelUpstream: cancelUpstream,
                           endResponse(requestEnded: flight.requestEnded, keepAlive: flight.keepAlive, now: now))
    }

    /// What follows a response's `.end`, decided before it is written: writing it can make the next request
    /// arrive at once. Without keep-alive the connection closes once the end is flushed; with it, the exchange
    /// is over when the request has ended too.
    private mutating func endResponse(requestEnded: Bool, keepAlive: Bool, now: NIODeadline) -> ResponseEnd {
        guard keepAlive && !quiescing else {
            state = .closing
            timerFiresAt = nil
            return .close
        }
        return requestEnded ? .becomeIdle(becomeIdle(now: now)) : .keepReading(timer: nil)
    }

    /// Both the request and its response are complete.
    private mutating func exchangeOver(keepAlive: Bool, now: NIODeadline) -> Action {
        guard keepAlive && !quiescing else { return close(.done) }
        return .becomeIdle(becomeIdle(now: now))
    }

    private mutating func becomeIdle(now: NIODeadline) -> Idle {
        state = .idle
        let read = resumeReading(now: now)
        idleDeadline = now + settings.idleTimeout
        return Idle(read: read, timer: schedule(idleDeadline))
    }

    /// Ends a pause of the gateway's own (the upstream took the body slowly): the client's time starts now.
    private mutating func resumeReading(now: NIODeadline) -> Bool {
        guard readPausedForBody else { return false }
        readPausedForBody = false
        bodyDeadline = now + settings.idleTimeout
        return flushPendingRead()
    }

    private mutating func flushPendingRead() -> Bool {
        guard readPending, !readPausedForBody, !readPausedForQueue, !readPausedForSwitch else { return false }
        readPending = false
        return true
    }

    private mutating func close(_ reason: CloseReason) -> Action {
        if isEnding { return .none }
        let cancel = upstreamRunning
        state = .closed
        timerFiresAt = nil
        return .close(reason, cancelUpstream: cancel)
    }

    private func joined(_ parts: [ByteBuffer], bytes: Int) -> ByteBuffer {
        if parts.count == 1 { return parts[0] }
        var all = allocator.buffer(capacity: bytes)
        for var part in parts { all.writeBuffer(&part) }
        return all
    }
}
