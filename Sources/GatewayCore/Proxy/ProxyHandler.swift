import Logging
import NIOCore
import NIOHTTP1

/// One client connection: the only place that orders the stages
/// (route match → auth → upstream transport → response). Runs entirely on its channel's event loop.
final class ProxyHandler<Upstream: UpstreamClient>: ChannelDuplexHandler, UpstreamResponseSink {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let runtime: GatewayRuntime
    private let upstream: Upstream
    private let endpoints: GatewayEndpoints

    private enum State {
        /// Waiting for a request head (the idle timer runs).
        case idle
        /// The gateway answered itself; the rest of the request body is discarded.
        case answered(keepAlive: Bool)
        /// Waiting for an asynchronous decision (an endpoint or a renewal) before anything is sent.
        case deciding(PendingRequest)
        case proxying(InFlight)
        case closed
    }

    /// A request whose decision is pending; its body is held (reading paused when it grows).
    private final class PendingRequest {
        var body: [ByteBuffer] = []
        var bodyBytes = 0
        var ended = false
        var onEnd: ((ByteBuffer) -> Void)?

        func deliverEnd(allocator: ByteBufferAllocator) {
            guard let onEnd else { return }
            self.onEnd = nil
            var all = allocator.buffer(capacity: bodyBytes)
            for var chunk in body { all.writeBuffer(&chunk) }
            onEnd(all)
        }
    }

    private final class InFlight {
        let exchange: Upstream.Exchange
        let keepAlive: Bool
        let method: HTTPMethod
        let language: Language
        /// A header added to the upstream's response (the renewed access token).
        let extraResponseHeaders: [(String, String)]
        let upstreamName: String
        /// No response head by then: 504.
        let responseDeadline: NIODeadline
        /// Mid-body, the upstream silent until then (while the client keeps up): the connection is closed.
        var upstreamReadDeadline = NIODeadline.distantFuture
        var requestEnded = false
        var responseStarted = false
        var responseEnded = false
        var bodyBytes = 0

        /// `upstreams[].read_timeout`.
        let readTimeout: Duration

        init(exchange: Upstream.Exchange, keepAlive: Bool, method: HTTPMethod, language: Language,
             extraResponseHeaders: [(String, String)], upstreamName: String, responseDeadline: NIODeadline,
             readTimeout: Duration) {
            self.readTimeout = readTimeout
            self.exchange = exchange
            self.keepAlive = keepAlive
            self.method = method
            self.language = language
            self.extraResponseHeaders = extraResponseHeaders
            self.upstreamName = upstreamName
            self.responseDeadline = responseDeadline
        }
    }

    private var state = State.idle
    private var context: ChannelHandlerContext!
    /// One timer serves both of the connection's deadlines (see `currentDeadline`). It is moved only when a
    /// deadline comes earlier than it fires; when it fires, it acts on what is due or sleeps until the next
    /// deadline. A keep-alive connection so costs no timer work per request, where scheduling and cancelling
    /// two timers per request cost about as much as building the upstream request.
    private var timer: Scheduled<Void>?
    private var timerFiresAt: NIODeadline?
    /// While idle: close the connection at this time.
    private var idleDeadline = NIODeadline.distantFuture
    /// While a request body is being read: the client must send more by then (`idle_timeout` between reads).
    private var bodyDeadline = NIODeadline.distantFuture
    /// While the client reads nothing of what is queued for it: closed at this time (`send_timeout`).
    private var sendDeadline = NIODeadline.distantFuture
    /// Reading from the client stops while the upstream's request buffer is full, or while pipelined
    /// requests pile up; NIO's read interest is only touched then (not once per request).
    private var readPausedForBody = false
    private var readPausedForQueue = false
    private var readPending = false
    /// Parts of pipelined requests that arrived while the current response was still being sent.
    private var queued = CircularBuffer<HTTPServerRequestPart>()
    private var queuedBytes = 0
    /// The current request's `.end` has arrived.
    private var requestComplete = false
    /// Graceful shutdown: finish the current response, then close.
    private var quiescing = false
    /// The client half-closed its side: requests already read are answered, then the connection closes.
    private var inputClosed = false
    /// A malformed request pipelined behind one still being answered: its error is written after that answer.
    private var parseErrorAfterQueue: GatewayError?
    /// The client's IP address for X-Forwarded-For: fixed for the connection, so formatted once.
    private lazy var clientAddress: String? = context.channel.remoteAddress?.ipAddress

    init(runtime: GatewayRuntime, upstream: Upstream, endpoints: GatewayEndpoints) {
        self.runtime = runtime
        self.upstream = upstream
        self.endpoints = endpoints
    }

    // MARK: channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { armIdleTimer() }
    }

    func channelActive(context: ChannelHandlerContext) {
        armIdleTimer()
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        stopTimer()
        abandonExchange()
        state = .closed
        context.fireChannelInactive()
    }

    /// The client is gone or the connection is being closed: an upstream transfer still running is cancelled,
    /// so its upstream connection is freed (a paused transfer would otherwise hold it for good).
    private func abandonExchange() {
        guard case .proxying(let flight) = state, !flight.responseEnded else { return }
        flight.responseEnded = true
        flight.exchange.cancel()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            sendDeadline = .distantFuture
            // The client caught up: from now on a silent upstream is the upstream's fault.
            if case .proxying(let flight) = state, flight.responseStarted, !flight.responseEnded {
                flight.upstreamReadDeadline = .now() + TimeAmount(flight.readTimeout)
            }
        } else {
            sendDeadline = .now() + TimeAmount(runtime.config.server.sendTimeout)
            scheduleTimer(by: sendDeadline)
        }
        context.fireChannelWritabilityChanged()
    }

    func read(context: ChannelHandlerContext) {
        if readPausedForBody || readPausedForQueue {
            readPending = true
        } else {
            context.read()
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if mustQueue {
            queued.append(part)
            if case .body(let buffer) = part { queuedBytes += buffer.readableBytes }
            if queued.count > 16 || queuedBytes > 64 * 1024 { readPausedForQueue = true }
            return
        }
        handle(part)
    }

    /// A pipelined request waits while the previous one's response is still being sent.
    private var mustQueue: Bool {
        if case .idle = state { return false }
        if case .closed = state { return false }
        return requestComplete || !queued.isEmpty
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            quiescing = true
            if case .idle = state, queued.isEmpty { close() }
            return
        }
        if let event = event as? ChannelEvent, event == .inputClosed {
            return clientStoppedSending()
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// The client half-closed (it sent FIN): what it sent in full is still answered (RFC 9112 §9.6 lets a client
    /// close its sending side after a request); a request it broke off is abandoned.
    private func clientStoppedSending() {
        inputClosed = true
        switch state {
        case .closed:
            // Lingering after a response that ended the connection: the client has read it and is done.
            context.close(promise: nil)
        case .idle:
            if queued.isEmpty { close() }
        case .answered, .deciding, .proxying:
            if !requestComplete { close() }
        }
    }

    private func handle(_ part: HTTPServerRequestPart) {
        switch part {
        case .head(let head):
            guard case .idle = state else { return close() }
            requestComplete = false
            receivedHead(head)
        case .body(let buffer):
            receivedBody(buffer)
        case .end:
            receivedEnd()
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let problem: GatewayError
        if let parserError = error as? HTTPParserError, parserError != .invalidEOFState {
            problem = parserError == .headerOverflow ? .headerFieldsTooLarge : .badRequest
        } else {
            // I/O errors, or the client's EOF in the middle of a request: nothing to answer.
            return close()
        }
        if requestComplete && !isIdleOrClosed {
            // The bytes that failed to parse come after a request that was read in full and is still being
            // answered: answer that one first, then this error, then close (reading is over: the parser stopped).
            if parseErrorAfterQueue == nil { parseErrorAfterQueue = problem }
            readPausedForQueue = true
            return
        }
        switch state {
        case .idle, .answered, .deciding:
            answer(problem, method: .GET, language: .english, keepAlive: false)
        case .proxying(let flight) where !flight.responseStarted:
            flight.exchange.cancel()
            answer(problem, method: flight.method, language: flight.language, keepAlive: false)
        default:
            close()
        }
    }

    // MARK: request stages

    private func receivedHead(_ head: HTTPRequestHead) {
        bodyDeadline = .now() + TimeAmount(runtime.config.server.idleTimeout)
        let language = Language(acceptLanguage: head.headers.first(name: "accept-language"))
        let keepAlive = head.isKeepAlive && !quiescing
        let limits = runtime.config.server

        if HeadSize.of(head) > limits.maxHeaderBytes {
            return answer(.headerFieldsTooLarge, method: head.method, language: language, keepAlive: false)
        }
        // RFC 9112 §3.2: exactly one Host in HTTP/1.1 (none is tolerated in HTTP/1.0); else 400.
        let hosts = HeadSize.hostCount(head.headers)
        if hosts > 1 || (hosts == 0 && head.version.minor >= 1) {
            return answer(.badRequest, method: head.method, language: language, keepAlive: false)
        }
        let declaredLength: Int?
        switch BodyFraming.of(head.headers) {
        case .invalid:
            return answer(.badRequest, method: head.method, language: language, keepAlive: false)
        case .length(let n):
            if n > limits.maxBodyBytes {
                return answer(.payloadTooLarge, method: head.method, language: language, keepAlive: false)
            }
            declaredLength = n
        case .chunked:
            declaredLength = nil
        case .none:
            declaredLength = 0
        }
        let target: RequestTarget
        do {
            target = try RequestTarget(parsing: head.uri)
        } catch {
            return answer(error, method: head.method, language: language, keepAlive: false)
        }

        if let endpoint = endpoints.match(target.path) {
            return runEndpoint(endpoint, head: head, language: language, keepAlive: keepAlive)
        }

        guard let route = runtime.routes.match(target.path) else {
            return answer(.notFound, method: head.method, language: language, keepAlive: keepAlive)
        }
        let isPreflight = head.method == .OPTIONS
            && head.headers.contains(name: "origin")
            && head.headers.contains(name: "access-control-request-method")
        if !isPreflight && !route.allows(head.method) {
            return answer(.methodNotAllowed, method: head.method, language: language, keepAlive: keepAlive,
                          extraHeaders: [("Allow", allowHeader(route))])
        }

        let decision = endpoints.authorize(head: head, route: route, isPreflight: isPreflight, eventLoop: context.eventLoop)
        switch decision {
        case .now(.forward(let grant)):
            forward(head, target: target, route: route, grant: grant, declaredLength: declaredLength, language: language, keepAlive: keepAlive, held: nil)
        case .now(.deny(let error)):
            answer(error, method: head.method, language: language, keepAlive: keepAlive)
        case .now(.denyWithHeaders(let error, let headers)):
            answer(error, method: head.method, language: language, keepAlive: keepAlive, extraHeaders: headers)
        case .later(let future):
            let pending = PendingRequest()
            state = .deciding(pending)
            future.hop(to: context.eventLoop).assumeIsolated().whenComplete { [self] result in
                guard case .deciding(let current) = state, current === pending else { return }
                switch result {
                case .success(.forward(let grant)):
                    forward(head, target: target, route: route, grant: grant, declaredLength: declaredLength, language: language, keepAlive: keepAlive, held: pending)
                case .success(.deny(let error)):
                    answer(error, method: head.method, language: language, keepAlive: keepAlive && pending.ended, afterEnd: pending.ended)
                case .success(.denyWithHeaders(let error, let headers)):
                    answer(error, method: head.method, language: language, keepAlive: keepAlive && pending.ended,
                           extraHeaders: headers, afterEnd: pending.ended)
                case .failure(let error):
                    answer(failed(error, head: head), method: head.method, language: language,
                           keepAlive: keepAlive && pending.ended, afterEnd: pending.ended)
                }
            }
        }
    }

    private func receivedBody(_ buffer: ByteBuffer) {
        bodyDeadline = .now() + TimeAmount(runtime.config.server.idleTimeout)
        switch state {
        case .proxying(let flight):
            flight.bodyBytes += buffer.readableBytes
            if flight.bodyBytes > runtime.config.server.maxBodyBytes {
                return flight.responseEnded ? close() : bodyTooLarge(flight)
            }
            guard !flight.responseEnded else { return }
            if !flight.exchange.sendBody(buffer) { pauseReading() }
        case .deciding(let pending):
            pending.bodyBytes += buffer.readableBytes
            if pending.bodyBytes > runtime.config.server.maxBodyBytes {
                state = .answered(keepAlive: false)
                return answer(.payloadTooLarge, method: .POST, language: .english, keepAlive: false)
            }
            pending.body.append(buffer)
            if pending.bodyBytes > 256 * 1024 { pauseReading() }
        case .answered, .idle, .closed:
            break
        }
    }

    private func receivedEnd() {
        requestComplete = true
        switch state {
        case .proxying(let flight):
            flight.requestEnded = true
            if !flight.responseEnded { flight.exchange.finishBody() }
            finishIfComplete(flight)
        case .answered(let keepAlive):
            // The answer was written already; the request has now been read to its end.
            if keepAlive && !quiescing {
                becomeIdle()
                drainQueued()
            } else {
                close()
            }
        case .deciding(let pending):
            pending.ended = true
            pending.deliverEnd(allocator: context.channel.allocator)
        case .idle, .closed:
            break
        }
    }

    private func forward(_ head: HTTPRequestHead, target: RequestTarget, route: Route, grant: ForwardGrant,
                         declaredLength: Int?, language: Language, keepAlive: Bool, held: PendingRequest?) {
        let upstreamRuntime = runtime.upstreams[route.upstreamIndex]
        let upstreamConfig = upstreamRuntime.config
        let targets = upstreamRuntime.targetsInOrder()
        let path = route.upstreamPath(for: target.path)
        var builderContext = UpstreamRequestBuilder.Context()
        builderContext.clientAddress = clientAddress
        builderContext.configuredHost = upstreamConfig.host
        builderContext.authorization = grant.authorization
        builderContext.identity = grant.identityHeaders
        let lines = runtime.requestBuilder.headerLines(for: head, targetAuthority: targets[0].authority, context: builderContext)
        let body: UpstreamRequestBody
        switch declaredLength {
        case nil: body = .streamed
        case 0? where !head.headers.contains(name: "content-length"): body = .none
        case let n?: body = .length(Int64(n))
        }
        let request = UpstreamRequest(
            method: head.method.rawValue,
            urls: targets.map { UpstreamRequestBuilder.url(target: $0, path: path, query: target.query) },
            headerLines: lines,
            body: body,
            connectTimeout: upstreamConfig.connectTimeout
        )
        if head.headers.first(name: "expect")?.lowercased() == "100-continue", held == nil {
            context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .continue))), promise: nil)
        }
        let exchange = upstream.start(request, on: context.eventLoop, sink: self)
        let flight = InFlight(exchange: exchange, keepAlive: keepAlive, method: head.method, language: language,
                              extraResponseHeaders: grant.responseHeaders, upstreamName: upstreamConfig.name,
                              responseDeadline: .now() + TimeAmount(upstreamConfig.timeout),
                              readTimeout: upstreamConfig.readTimeout)
        state = .proxying(flight)
        scheduleTimer(by: flight.responseDeadline)
        if let held {
            for chunk in held.body { _ = exchange.sendBody(chunk) }
            flight.bodyBytes = held.bodyBytes
            if held.ended {
                flight.requestEnded = true
                exchange.finishBody()
            }
            resumeReading()
        }
    }

    private func bodyTooLarge(_ flight: InFlight) {
        if !flight.responseEnded { flight.exchange.cancel() }
        if flight.responseStarted {
            return close()
        }
        flight.responseEnded = true
        answer(.payloadTooLarge, method: flight.method, language: flight.language, keepAlive: false)
    }

    // MARK: UpstreamResponseSink

    func upstreamDelivered(_ delivery: UpstreamDelivery) {
        guard case .proxying(let flight) = state, !flight.responseEnded else { return }
        if let head = delivery.head {
            flight.responseStarted = true
            var headers = head.headers
            for (name, value) in flight.extraResponseHeaders { headers.addMerging(name: name, value: value) }
            if !flight.keepAlive || quiescing { headers.replaceOrAdd(name: "connection", value: "close") }
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: head.status, headers: headers))), promise: nil)
        }
        if delivery.end == nil {
            flight.upstreamReadDeadline = .now() + TimeAmount(flight.readTimeout)
            scheduleTimer(by: flight.upstreamReadDeadline)
        }
        if let body = delivery.body {
            if delivery.end == nil {
                // Flow control: the transport holds back once too many bytes are unwritten.
                let count = body.readableBytes
                let exchange = flight.exchange
                let promise = context.eventLoop.makePromise(of: Void.self)
                promise.futureResult.assumeIsolated().whenSuccess { [self] in
                    exchange.responseBodyWritten(count)
                    clientReadProgress()
                }
                context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: promise)
            } else {
                // The last bytes: nothing more will be produced, so there is nothing to release.
                context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
            }
        }
        switch delivery.end {
        case nil:
            context.flush()
        case .success?:
            flight.responseEnded = true
            endResponse(requestEnded: flight.requestEnded, keepAlive: flight.keepAlive)
        case .failure(let failure)?:
            flight.responseEnded = true
            if flight.responseStarted {
                // Never let a truncated body look complete: drop the connection.
                runtime.logger.info("upstream broke off mid-response", metadata: ["reason": "\(failure)"])
                context.flush()
                return close()
            }
            runtime.logger.info("upstream unavailable", metadata: ["reason": "\(failure)"])
            writeError(.upstreamUnavailable, method: flight.method, language: flight.language, keepAlive: flight.keepAlive)
            endResponse(requestEnded: flight.requestEnded, keepAlive: flight.keepAlive)
        }
    }

    func upstreamWantsMoreRequestBody() {
        resumeReading()
    }

    // MARK: endpoints

    private func runEndpoint(_ endpoint: GatewayEndpoints.Endpoint, head: HTTPRequestHead, language: Language, keepAlive: Bool) {
        let pending = PendingRequest()
        state = .deciding(pending)
        collectBody(pending) { [self] body in
            endpoints.respond(endpoint, head: head, body: body, language: language, eventLoop: context.eventLoop)
                .hop(to: context.eventLoop)
                .assumeIsolated()
                .whenComplete { [self] result in
                    guard case .deciding(let current) = state, current === pending else { return }
                    switch result {
                    case .success(let response):
                        writeLocal(response, keepAlive: keepAlive)
                        endResponse(requestEnded: true, keepAlive: keepAlive)
                    case .failure(let error):
                        answer(failed(error, head: head), method: head.method, language: language, keepAlive: keepAlive, afterEnd: true)
                    }
                }
        }
    }

    /// The answer to a failed decision or endpoint; a failure that is a bug (500) is logged with the request.
    private func failed(_ error: any Error, head: HTTPRequestHead) -> GatewayError {
        let answer = GatewayError.answering(error)
        switch answer.code {
        case .internalError:
            runtime.logger.error("internal error", metadata: [
                "error": "\(error)", "method": "\(head.method.rawValue)",
                "request_id": "\(head.headers.first(name: "x-request-id") ?? "-")",
            ])
        case .storeUnavailable:
            runtime.logger.warning("session store unavailable", metadata: ["error": "\(error)"])
        default:
            break
        }
        return answer
    }

    /// Calls `body` with the whole (bounded by max_body_bytes) request body once it has arrived.
    private func collectBody(_ pending: PendingRequest, then body: @escaping (ByteBuffer) -> Void) {
        pending.onEnd = body
        if pending.ended { pending.deliverEnd(allocator: context.channel.allocator) }
    }

    // MARK: answering

    /// Answers with an error; closes the connection when the error requires it or the client asked.
    private func answer(_ error: GatewayError, method: HTTPMethod, language: Language, keepAlive: Bool,
                        extraHeaders: [(String, String)] = [], afterEnd: Bool = false) {
        let keep = keepAlive && !error.closesConnection
        writeError(error, method: method, language: language, keepAlive: keep, extraHeaders: extraHeaders)
        if keep && !afterEnd { state = .answered(keepAlive: true) }
        endResponse(requestEnded: afterEnd, keepAlive: keep)
    }

    private func writeError(_ error: GatewayError, method: HTTPMethod, language: Language, keepAlive: Bool,
                            extraHeaders: [(String, String)] = []) {
        var headers = HTTPHeaders()
        headers.add(contentsOf: error.extraHeaders())
        headers.add(contentsOf: extraHeaders)
        writeLocal(LocalResponse(status: error.status, json: error.body(language: language, method: method.rawValue), headers: headers), keepAlive: keepAlive)
    }

    /// Writes a complete local response except its `.end` (see `endResponse`).
    private func writeLocal(_ response: LocalResponse, keepAlive: Bool) {
        var headers = response.headers
        if response.status != .noContent {
            if !headers.contains(name: "content-type") { headers.add(name: "content-type", value: "application/json") }
            headers.replaceOrAdd(name: "content-length", value: String(response.body.readableBytes))
        }
        if !keepAlive { headers.replaceOrAdd(name: "connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: response.status, headers: headers))), promise: nil)
        if response.body.readableBytes > 0 {
            context.write(wrapOutboundOut(.body(.byteBuffer(response.body))), promise: nil)
        }
    }

    private func allowHeader(_ route: Route) -> String {
        var methods = route.methodList
        if methods.contains("GET") && !methods.contains("HEAD") { methods.append("HEAD") }
        return methods.joined(separator: ", ")
    }

    // MARK: connection life

    /// Writes the response's `.end`, deciding the connection's next state first: writing `.end` can make
    /// NIO's pipelining handler deliver the next request at once. Without keep-alive the connection closes
    /// once the end is flushed; with it, the exchange is over when the request has ended too.
    private func endResponse(requestEnded: Bool, keepAlive: Bool) {
        guard keepAlive && !quiescing else {
            state = .closed
            stopTimer()
            let context = self.context!
            context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { [self] result in
                if case .success = result, !requestComplete {
                    lingerThenClose()
                } else {
                    context.close(promise: nil)
                }
            }
            return
        }
        if requestEnded { becomeIdle() }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        if requestEnded { drainQueued() }
    }

    private func finishIfComplete(_ flight: InFlight) {
        guard flight.requestEnded, flight.responseEnded else { return }
        if flight.keepAlive && !quiescing {
            becomeIdle()
            drainQueued()
        } else {
            close()
        }
    }

    /// Handles queued pipelined parts now that the previous exchange is over (after its `.end` was written).
    private func drainQueued() {
        while let part = queued.first, !mustQueueNext {
            queued.removeFirst()
            if case .body(let buffer) = part { queuedBytes -= buffer.readableBytes }
            handle(part)
        }
        if queued.isEmpty, case .idle = state {
            if let problem = parseErrorAfterQueue {
                parseErrorAfterQueue = nil
                return answer(problem, method: .GET, language: .english, keepAlive: false)
            }
            if quiescing || inputClosed { return close() }
        }
        if queued.isEmpty, inputClosed, !requestComplete, !isIdleOrClosed {
            // The client half-closed in the middle of a pipelined request: it can never finish it.
            return close()
        }
        if parseErrorAfterQueue != nil { return }
        if readPausedForQueue && queued.count <= 4 && queuedBytes <= 16 * 1024 {
            readPausedForQueue = false
            flushPendingRead()
        }
    }

    private var isIdleOrClosed: Bool {
        switch state {
        case .idle, .closed: true
        case .answered, .deciding, .proxying: false
        }
    }

    /// Like `mustQueue`, for the queue's own head (which is not behind itself).
    private var mustQueueNext: Bool {
        if case .idle = state { return false }
        if case .closed = state { return true }
        return requestComplete
    }

    private func becomeIdle() {
        state = .idle
        resumeReading()
        armIdleTimer()
    }

    private func armIdleTimer() {
        idleDeadline = .now() + TimeAmount(runtime.config.server.idleTimeout)
        scheduleTimer(by: idleDeadline)
    }

    // MARK: deadlines

    /// The earliest of the deadlines that apply now: a request while idle; the rest of the request body while
    /// one is being read (unless the gateway itself paused reading); the response head, then upstream progress
    /// mid-body, while proxying; the client's reading while its socket buffer stays full.
    private var currentDeadline: NIODeadline? {
        var earliest = sendDeadline
        switch state {
        case .idle:
            return min(idleDeadline, earliest)
        case .closed:
            return nil
        case .proxying(let flight) where !flight.responseEnded:
            earliest = min(earliest, flight.responseStarted ? flight.upstreamReadDeadline : flight.responseDeadline)
        case .proxying, .answered, .deciding:
            break
        }
        if !requestComplete && !readPausedForBody { earliest = min(earliest, bodyDeadline) }
        return earliest == .distantFuture ? nil : earliest
    }

    /// Makes sure the timer fires no later than `deadline`.
    private func scheduleTimer(by deadline: NIODeadline) {
        if let firesAt = timerFiresAt, firesAt <= deadline { return }
        timer?.cancel()
        timerFiresAt = deadline
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in timerFired() }
    }

    private func timerFired() {
        timer = nil
        timerFiresAt = nil
        guard let deadline = currentDeadline else { return }
        let now = NIODeadline.now()
        guard deadline <= now else { return scheduleTimer(by: deadline) }
        if sendDeadline <= now {
            runtime.logger.info("client stopped reading its response: closing", metadata: ["send_timeout": "\(runtime.config.server.sendTimeout)"])
            return close()
        }
        switch state {
        case .idle:
            return close()
        case .proxying(let flight) where !flight.responseEnded && !flight.responseStarted && flight.responseDeadline <= now:
            flight.exchange.cancel()
            flight.responseEnded = true
            runtime.logger.info("upstream timeout", metadata: ["upstream": "\(flight.upstreamName)"])
            writeError(.upstreamTimeout, method: flight.method, language: flight.language, keepAlive: flight.keepAlive)
            endResponse(requestEnded: flight.requestEnded, keepAlive: flight.keepAlive)
        case .proxying(let flight) where !flight.responseEnded && flight.responseStarted && flight.upstreamReadDeadline <= now:
            // Never let a stalled body look complete: the client sees the connection close.
            runtime.logger.info("upstream stalled mid-response: closing", metadata: ["upstream": "\(flight.upstreamName)"])
            return close()
        default:
            // What is left is the request body: the client stopped sending it.
            runtime.logger.info("request body stalled: closing", metadata: ["idle_timeout": "\(runtime.config.server.idleTimeout)"])
            return close()
        }
        if let next = currentDeadline { scheduleTimer(by: next) }
    }

    /// Bytes of the response reached the client's socket: if its buffer is still full, the client gets more time.
    private func clientReadProgress() {
        guard sendDeadline != .distantFuture else { return }
        sendDeadline = .now() + TimeAmount(runtime.config.server.sendTimeout)
    }

    private func stopTimer() {
        timer?.cancel()
        timer = nil
        timerFiresAt = nil
    }

    private func pauseReading() {
        readPausedForBody = true
    }

    private func resumeReading() {
        guard readPausedForBody else { return }
        readPausedForBody = false
        // The pause was the gateway's (the upstream took the body slowly): the client's time starts now.
        bodyDeadline = .now() + TimeAmount(runtime.config.server.idleTimeout)
        flushPendingRead()
    }

    private func flushPendingRead() {
        guard readPending, !readPausedForBody, !readPausedForQueue else { return }
        readPending = false
        context.read()
    }

    /// How long a connection answered before its request was read to the end keeps draining the client.
    static var lingerTime: TimeAmount { .seconds(2) }

    /// After a response that ends the connection before the request was read (a 413 on Content-Length, a 400),
    /// the client is usually still sending. Closing now, with its bytes unread, makes the kernel answer with
    /// RST, which can destroy the response before the client reads it. So: half-close (the client sees the
    /// response, then EOF), read and drop what it still sends, and close when it closes or after `lingerTime`.
    private func lingerThenClose() {
        let context = self.context!
        context.close(mode: .output, promise: nil)
        queued.removeAll()
        queuedBytes = 0
        readPausedForBody = false
        readPausedForQueue = false
        flushPendingRead()
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: Self.lingerTime) { context.close(promise: nil) }
    }

    private func close() {
        if case .closed = state { return }
        abandonExchange()
        state = .closed
        stopTimer()
        context.close(promise: nil)
    }
}
