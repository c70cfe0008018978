import Logging
import NIOCore
import NIOHTTP1

/// One client connection: the only place that orders the stages (route match → auth → upstream transport →
/// response). The rules live in `ConnectionStateMachine`; this handler turns NIO's events into its events and
/// runs the actions it returns. Runs entirely on its channel's event loop.
final class ProxyHandler<Upstream: UpstreamClient>: ChannelDuplexHandler, RemovableChannelHandler, UpstreamResponseSink {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart
    private typealias Machine = ConnectionStateMachine

    private let active: ActiveGateway
    /// The current request's, from the `active` snapshot taken at its head (docs/operations.md#reload: a reload never changes a
    /// request in flight).
    private var runtime: GatewayRuntime
    private var endpoints: GatewayEndpoints
    /// Where a WebSocket tunnel registers, so its session's revocation closes it.
    private var revocations: RevocationList
    private let upstream: Upstream
    /// Where each finished request's line goes (`log.access`; a sink that is off takes nothing).
    private let accessLog: AccessLog
    private var machine: Machine
    /// Until the handler leaves the pipeline: holding it after that would keep the handler, its context and the
    /// pipeline alive in a cycle (one per connection or HTTP/2 stream). Whatever finishes later (a credential
    /// check, a transfer's last callback) then writes nowhere, as it would to a closed channel.
    private var context: ChannelHandlerContext?
    private var eventLoop: (any EventLoop)!
    /// The connection's one timer (`Machine.timerFiresAt`).
    private var timer: Scheduled<Void>?
    /// The current request's upstream transfer, and what goes with its response.
    private var exchange: Upstream.Exchange?
    /// The token renewed for the current request, handed back on the upstream's response head.
    private var renewedToken: String?
    private var upstreamName = ""
    /// The current request, as the access log and the metrics will tell it (from its head to its response's end).
    private var record: RequestRecord?
    /// The current request's id (`RequestID.of`, kept in its record): upstream, `verify_url`, the response and the
    /// log see it.
    private var requestID: String { record?.requestID ?? "" }
    /// The gateway's own endpoint waiting for its request body.
    private var endpointCall: (endpoint: GatewayEndpoints.Endpoint, head: HTTPRequestHead)?
    /// Where this connection's async steps run: its own event loop (made on the first one).
    private lazy var taskExecutor = EventLoopTaskExecutor(eventLoop)
    /// The client's IP address for X-Forwarded-For: fixed for the connection, so formatted once.
    private lazy var clientAddress: String? = context?.channel.remoteAddress?.ipAddress
    /// How the client reached the gateway, for X-Forwarded-Proto: "https" on a TLS listener (docs/http.md#tls-and-http2).
    private let scheme: String

    /// The listener's count of live handlers: one left behind by a closed connection or stream is a leak.
    private let census: Census

    init(active: ActiveGateway, upstream: Upstream, accessLog: AccessLog, secure: Bool, census: Census) {
        self.scheme = secure ? "https" : "http"
        self.census = census
        census.arrived()
        let compiled = active.current
        self.active = active
        self.runtime = compiled.runtime
        self.upstream = upstream
        self.endpoints = compiled.endpoints
        self.revocations = compiled.revocations
        self.accessLog = accessLog
        let server = runtime.config.server
        self.machine = Machine(settings: .init(idleTimeout: TimeAmount(server.idleTimeout),
                                               sendTimeout: TimeAmount(server.sendTimeout),
                                               maxBodyBytes: server.maxBodyBytes))
    }

    deinit {
        census.departed()
    }

    /// How long a connection answered before its request was read to the end keeps draining the client.
    static var lingerTime: TimeAmount { .seconds(2) }

    // MARK: channel events

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.eventLoop = context.eventLoop
        if context.channel.isActive { run(machine.channelActive(now: .now())) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        stopTimer()
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        run(machine.channelActive(now: .now()))
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        run(machine.channelInactive())
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        run(machine.writabilityChanged(isWritable: context.channel.isWritable, now: .now()))
        context.fireChannelWritabilityChanged()
    }

    func read(context: ChannelHandlerContext) {
        run(machine.readRequested())
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if machine.partArrived(part) == .handle { handle(part) }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            return run(machine.quiesce())
        }
        if let event = event as? ChannelEvent, event == .inputClosed {
            return run(machine.inputClosed())
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let parserError = error as? HTTPParserError, parserError != .invalidEOFState {
            let problem: GatewayError = parserError == .headerOverflow ? .headerFieldsTooLarge : .badRequest
            run(machine.parseError(problem, now: .now()))
        } else {
            // I/O errors, or the client's EOF in the middle of a request: nothing to answer.
            run(machine.connectionFailed())
        }
    }

    private func handle(_ part: HTTPServerRequestPart) {
        switch part {
        case .head(let head):
            receivedHead(head)
        case .body(let buffer):
            record?.bytesReceived += buffer.readableBytes
            run(machine.bodyReceived(buffer, now: .now()))
        case .end:
            run(machine.endReceived(now: .now()))
        }
    }

    // MARK: request stages

    private func receivedHead(_ head: HTTPRequestHead) {
        let now = NIODeadline.now()
        let compiled = active.current
        (runtime, endpoints, revocations) = (compiled.runtime, compiled.endpoints, compiled.revocations)
        var record = RequestRecord(started: now, requestID: RequestID.of(head.headers))
        record.method = head.method.rawValue
        record.uri = head.uri
        record.route = runtime.metrics.none
        self.record = record
        let language = Language(acceptLanguage: head.headers.first(name: "accept-language"))
        var request = Machine.Request(method: head.method, language: language, keepAlive: head.isKeepAlive)
        if ProtocolUpgrade.endsParsing(head) { request.upgrade = .declined }
        switch RequestRouting.classify(head, limits: runtime.config.server, routes: runtime.routes, endpoints: endpoints) {
        case .reject(let error, let headers):
            run(machine.headReceived(request, .answer(error, headers: headers), now: now))
        case .endpoint(let endpoint):
            self.record?.route = runtime.metrics.endpoint(endpoint)
            noteAuth(.public)
            endpointCall = (endpoint, head)
            run(machine.headReceived(request, .endpoint, now: now))
        case .route(let route, let target, let isPreflight, let body):
            self.record?.route = runtime.metrics.routes[route.index]
            let tunnel = tunnelProtocol(head, route: route, body: body)
            if tunnel != nil { request.upgrade = .tunnel }
            let timeouts = upstreamTimeouts(route)
            let publicRoute = isPreflight || route.auth == .public
            let decision = endpoints.authorize(head: head, route: route, isPreflight: isPreflight)
            switch decision {
            case .now(let outcome): noteAuth(outcome, publicRoute: publicRoute)
            case .failed(let error): noteAuth(.of(error))
            case .later: break
            }
            switch decision {
            case .now(.denied(let error, let renewedToken)):
                run(machine.headReceived(request, .answer(error, headers: renewalHeaders(renewedToken)), now: now))
            case .failed(let error):
                run(machine.headReceived(request, .answer(error), now: now))
            case .now(let outcome):
                let expectContinue = head.headers.first(name: "expect")?.lowercased() == "100-continue"
                let action = machine.headReceived(request, .forward(timeouts, expectContinue: expectContinue), now: now)
                start(action, head: head, target: target, route: route, auth: outcome, body: body, tunnel: tunnel)
            case .later(let work):
                run(machine.headReceived(request, .authorize, now: now))
                whenDone(work) { [self] result in
                    let now = NIODeadline.now()
                    switch result {
                    case .success(let outcome): noteAuth(outcome, publicRoute: publicRoute)
                    case .failure(let error): noteAuth(.of(GatewayError.answering(error)))
                    }
                    switch result {
                    case .success(.denied(let error, let renewedToken)):
                        run(machine.decisionArrived(.deny(error, headers: renewalHeaders(renewedToken)), now: now))
                    case .success(let outcome):
                        let action = machine.decisionArrived(.forward(timeouts), now: now)
                        start(action, head: head, target: target, route: route, auth: outcome, body: body, tunnel: tunnel)
                    case .failure(let error):
                        run(machine.decisionArrived(.deny(failed(error, head: head)), now: now))
                    }
                }
            }
        }
    }

    /// Counts what auth decided and keeps it (and who it named) for the request's log line.
    private func noteAuth(_ outcome: AuthOutcome, publicRoute: Bool) {
        record?.note(outcome)
        noteAuth(.of(outcome, publicRoute: publicRoute))
    }

    private func noteAuth(_ label: GatewayMetrics.AuthLabel) {
        record?.auth = label
        runtime.metrics.gateway.count(label)
    }

    /// The one place an async step (the store, the credential check) meets the event loop: `work` runs as a task
    /// on this connection's loop (`EventLoopTaskExecutor`), and `body` gets its result there.
    private func whenDone<Value: Sendable>(_ work: @escaping @Sendable () async throws -> Value,
                                           _ body: @escaping (Result<Value, any Error>) -> Void) {
        let promise = eventLoop.makePromise(of: Value.self)
        Task(executorPreference: taskExecutor) {
            do { promise.succeed(try await work()) } catch { promise.fail(error) }
        }
        promise.futureResult.assumeIsolated().whenComplete(body)
    }

    /// The renewal header (and its CORS exposure) for a response that carries a renewed token.
    private func renewalHeaders(_ renewedToken: String?) -> HTTPHeaders {
        var headers = HTTPHeaders()
        if let renewedToken { runtime.renewalResponse.add(renewedToken, to: &headers) }
        return headers
    }

    private func upstreamTimeouts(_ route: Route) -> Machine.UpstreamTimeouts {
        let config = runtime.upstreams[route.upstreamIndex].config
        return .init(response: TimeAmount(config.timeout), read: TimeAmount(config.readTimeout))
    }

    /// The protocol to tunnel to when `head` asks for a WebSocket on a route that tunnels them (docs/http.md#websocket): a GET
    /// without a body, on a connection whose HTTP/1 handlers can step aside (an HTTP/2 stream has none: RFC 8441
    /// is not supported, its `Upgrade` is dropped as anywhere else).
    private func tunnelProtocol(_ head: HTTPRequestHead, route: Route, body: UpstreamRequestBody) -> String? {
        guard route.websocket, head.method == .GET, body == .none, let upgrade = ProtocolUpgrade.requested(head.headers),
              ProtocolUpgrade.lists(upgrade, "websocket"), let context,
              TunnelHandler<Upstream.Exchange>.canReplaceHTTP1(in: context)
        else { return nil }
        return upgrade
    }

    /// Runs `action`; when it is `startUpstream`, builds the upstream request from the head and starts it.
    /// `tunnel`: the protocol a WebSocket request switches to.
    private func start(_ action: Machine.Action, head: HTTPRequestHead, target: RequestTarget, route: Route,
                       auth: AuthOutcome, body: UpstreamRequestBody, tunnel: String?) {
        guard case .startUpstream(let start) = action else { return run(action) }
        let upstreamRuntime = runtime.upstreams[route.upstreamIndex]
        let upstreamConfig = upstreamRuntime.config
        let targets = upstreamRuntime.targetsInOrder()
        let path = route.upstreamPath(for: target.path)
        var builderContext = UpstreamRequestBuilder.Context()
        builderContext.clientAddress = clientAddress
        builderContext.scheme = scheme
        builderContext.configuredHost = upstreamConfig.host
        builderContext.auth = auth
        builderContext.requestID = requestID
        var lines = runtime.requestBuilder.headerLines(for: head, targetAuthority: targets[0].authority, context: builderContext)
        if let tunnel {
            // Hop-by-hop, so the builder dropped them; this hop asks the next for the switch (RFC 9110 §7.8).
            lines.append("Connection: Upgrade")
            lines.append("Upgrade: ", tunnel)
        }
        let request = UpstreamRequest(
            method: head.method.rawValue,
            urls: targets.map { UpstreamRequestBuilder.url(target: $0, path: path, query: target.query) },
            headerLines: lines,
            body: body,
            connectTimeout: upstreamConfig.connectTimeout,
            upgrade: tunnel
        )
        if start.sendContinue {
            context?.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .continue))), promise: nil)
        }
        let exchange = upstream.start(request, on: eventLoop, sink: self)
        self.exchange = exchange
        if case .renewed(_, let token) = auth { renewedToken = token } else { renewedToken = nil }
        upstreamName = upstreamConfig.name
        record?.upstream = (upstreamConfig.name, runtime.metrics.upstreams[route.upstreamIndex])
        record?.upstreamStarted = .now()
        if let deadline = start.timer { scheduleTimer(at: deadline) }
        for chunk in start.heldBody { _ = exchange.sendBody(chunk) }
        if start.finishBody { exchange.finishBody() }
        if start.read { context?.read() }
    }

    /// The answer to a failed decision or endpoint; a failure that is a bug (500) is logged with the request.
    private func failed(_ error: any Error, head: HTTPRequestHead) -> GatewayError {
        let answer = GatewayError.answering(error)
        switch answer.code {
        case .internalError:
            runtime.logger.error("internal error", metadata: [
                "error": "\(error)", "method": "\(head.method.rawValue)",
                "request_id": "\(requestID)",
            ])
        case .storeUnavailable:
            runtime.metrics.gateway.storeErrors.increment()
            runtime.logger.warning("session store unavailable", metadata: ["error": "\(error)", "request_id": "\(requestID)"])
        default:
            break
        }
        return answer
    }

    private func respondFromEndpoint(body: ByteBuffer) {
        guard let (endpoint, head) = endpointCall else { return }
        endpointCall = nil
        let caller = Caller(forwardedFor: UpstreamRequestBuilder.forwardedFor(UpstreamRequestBuilder.clientForwardedFor(head.headers),
                                                                              client: clientAddress),
                            scheme: scheme, requestID: requestID)
        // A page of a listed origin reads every answer, errors included (`auth.cors_origins`).
        let cors = endpoints.corsHeaders(endpoint, head: head)
        func responded(_ response: LocalResponse) {
            var response = response
            noteSubject(response)
            if !cors.isEmpty { response.headers.add(contentsOf: cors) }
            run(machine.endpointResponded(response, now: .now()))
        }
        switch endpoints.respond(endpoint, head: head, body: body, caller: caller) {
        case .now(let response):
            responded(response)
        case .failed(let error):
            run(machine.endpointFailed(error, headers: cors, now: .now()))
        case .later(let work):
            whenDone(work) { [self] result in
                switch result {
                case .success(let response):
                    responded(response)
                case .failure(let error):
                    run(machine.endpointFailed(failed(error, head: head), headers: cors, now: .now()))
                }
            }
        }
    }

    // MARK: UpstreamResponseSink

    func upstreamDelivered(_ delivery: UpstreamDelivery) {
        if let head = delivery.head, head.status == .switchingProtocols {
            // Only a tunnel's exchange delivers a 101 (a transfer refuses one it did not ask for).
            guard case .switchProtocols(let quiescing) = machine.upstreamSwitchedProtocols() else { return }
            return switchProtocols(head, delivery, quiescing: quiescing)
        }
        if let head = delivery.head {
            // Nothing of a delivery the machine no longer expects is written (a cancelled or timed-out exchange).
            guard case .writeResponseHead(let closeConnection) = machine.upstreamResponseHead() else { return }
            upstreamResponded(status: Int(head.status.code))
            var headers = head.headers
            if let renewedToken { runtime.renewalResponse.add(renewedToken, to: &headers) }
            if closeConnection { headers.replaceOrAdd(name: "connection", value: "close") }
            headers.replaceOrAdd(name: "x-request-id", value: requestID)
            context?.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: head.status, headers: headers))), promise: nil)
        }
        if let body = delivery.body {
            run(machine.upstreamResponseBody(body, last: delivery.end != nil))
        }
        switch delivery.end {
        case nil:
            run(machine.upstreamDeliveryWritten(now: .now()))
        case .success?:
            run(machine.upstreamResponseEnded(now: .now()))
        case .failure(let failure)?:
            let action = machine.upstreamFailed(now: .now())
            switch action {
            case .close:
                runtime.logger.info("upstream broke off mid-response", metadata: ["reason": "\(failure)"])
            case .writeError:
                runtime.logger.info("upstream unavailable", metadata: ["reason": "\(failure)"])
            default:
                break
            }
            run(action)
        }
    }

    func upstreamWantsMoreRequestBody() {
        run(machine.upstreamWantsMoreRequestBody(now: .now()))
    }

    /// The upstream's 101 to a WebSocket request: it goes to the client with the renewal header, and a
    /// `TunnelHandler` takes the connection, the exchange and the request's record over (with what came with the
    /// 101); this handler leaves the pipeline with NIO's HTTP/1 handlers.
    private func switchProtocols(_ head: UpstreamResponseHead, _ delivery: UpstreamDelivery, quiescing: Bool) {
        guard let exchange, let context else { return }
        upstreamResponded(status: 101)
        var headers = head.headers
        if let renewedToken { runtime.renewalResponse.add(renewedToken, to: &headers) }
        headers.replaceOrAdd(name: "x-request-id", value: requestID)
        context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: head.status, headers: headers))),
                              promise: nil)
        let server = runtime.config.server
        let tunnel = TunnelHandler(
            exchange: exchange, record: record, accessLog: accessLog, logger: runtime.logger, clientAddress: clientAddress,
            settings: .init(sendTimeout: TimeAmount(server.sendTimeout), shutdownTimeout: TimeAmount(server.shutdownTimeout)),
            revocations: revocations, arrived: delivery, quiescing: quiescing, census: census
        )
        stopTimer()
        do {
            try tunnel.replaceHTTP1(and: context)
        } catch {
            // Checked at the request's head (`canReplaceHTTP1`); should the pipeline have changed since, the
            // connection cannot go on as either.
            runtime.logger.error("cannot switch the connection to a tunnel", metadata: ["error": "\(error)"])
            releaseExchange(cancel: true)
            context.close(promise: nil)
            return
        }
        self.exchange = nil
        record = nil
    }

    // MARK: running actions

    private func run(_ action: Machine.Action) {
        switch action {
        case .none:
            break
        case .read:
            context?.read()
        case .scheduleTimer(let deadline):
            scheduleTimer(at: deadline)
        case .startUpstream:
            preconditionFailure("started where the request head is known (start(_:head:…))")
        case .sendBodyToUpstream(let buffer):
            if let exchange, !exchange.sendBody(buffer) { machine.upstreamRequestBodyFull() }
        case .finishUpstreamBody:
            exchange?.finishBody()
        case .respondFromEndpoint(let body):
            respondFromEndpoint(body: body)
        case .writeResponseHead, .switchProtocols:
            preconditionFailure("written where the upstream's head is known (upstreamDelivered)")
        case .writeResponseBody(let body, let flowControlled):
            writeResponseBody(body, flowControlled: flowControlled)
        case .flush(let timer):
            if let timer { scheduleTimer(at: timer) }
            context?.flush()
        case .writeResponseEnd(let end):
            releaseExchange(cancel: false)
            endResponse(end)
        case .writeLocalResponse(let response, let keepAlive, let end):
            writeLocal(response, keepAlive: keepAlive)
            endResponse(end)
        case .writeError(let response, let cancelUpstream, let end):
            // Whatever ran upstream is over (failed, or cancelled now).
            releaseExchange(cancel: cancelUpstream)
            if response.error == .upstreamTimeout {
                runtime.logger.info("upstream timeout", metadata: ["upstream": "\(upstreamName)"])
            }
            writeError(response)
            endResponse(end)
        case .becomeIdle(let idle):
            becomeIdle(idle)
            drainQueued()
        case .halfCloseAndLinger(let read, let deadline):
            context?.close(mode: .output, promise: nil)
            if read { context?.read() }
            scheduleTimer(at: deadline)
        case .close(let reason, let cancelUpstream):
            log(reason)
            finishRecord()
            // What the upstream sent before it broke off still reaches the client, then the close shows the break.
            if reason == .upstreamBrokeOff { context?.flush() }
            stopTimer()
            releaseExchange(cancel: cancelUpstream)
            context?.close(promise: nil)
        case .stop(let cancelUpstream):
            finishRecord()
            stopTimer()
            releaseExchange(cancel: cancelUpstream)
        }
    }

    /// The exchange is over. When the client is gone, the connection is being closed or the response timed out,
    /// a transfer still running is cancelled, so its upstream connection is freed (a paused transfer would
    /// otherwise hold it for good).
    private func releaseExchange(cancel: Bool) {
        if cancel { exchange?.cancel() }
        exchange = nil
    }

    private func log(_ reason: Machine.CloseReason) {
        switch reason {
        case .sendTimeout:
            runtime.logger.info("client stopped reading its response: closing", metadata: ["send_timeout": "\(runtime.config.server.sendTimeout)"])
        case .upstreamStalled:
            runtime.logger.info("upstream stalled mid-response: closing", metadata: ["upstream": "\(upstreamName)"])
        case .requestBodyStalled:
            runtime.logger.info("request body stalled: closing", metadata: ["idle_timeout": "\(runtime.config.server.idleTimeout)"])
        default:
            break
        }
    }

    private func writeResponseBody(_ body: ByteBuffer, flowControlled: Bool) {
        guard flowControlled, let exchange else {
            // The last bytes: nothing more will be produced, so there is nothing to release.
            record?.bytesSent += body.readableBytes
            context?.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
            return
        }
        // Flow control: the transport holds back once too many bytes are unwritten.
        let count = body.readableBytes
        record?.bytesSent += count
        let promise = eventLoop.makePromise(of: Void.self)
        promise.futureResult.assumeIsolated().whenSuccess { [self] in
            exchange.responseBodyWritten(count)
            machine.responseBodyWritten(now: .now())
        }
        context?.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: promise)
    }

    private func writeError(_ response: Machine.ErrorResponse) {
        if record == nil {
            // Refused before a head was read (400, 431): still a request in the log.
            record = RequestRecord(started: .now(), requestID: RequestID.generate())
            record?.route = runtime.metrics.none
        }
        record?.error = response.error.codeString
        if let upstream = record?.upstream, record?.upstreamStatus == nil {
            switch response.error.code {
            case .upstreamTimeout: upstream.metrics.count(.upstreamTimeout)
            case .upstreamUnavailable: upstream.metrics.count(.upstreamUnavailable)
            default: break
            }
        }
        var headers = HTTPHeaders()
        headers.add(contentsOf: response.error.extraHeaders())
        headers.add(contentsOf: response.headers)
        let json = response.error.body(language: response.language, method: response.method.rawValue)
        writeLocal(LocalResponse(status: response.error.status, json: json, headers: headers), keepAlive: response.keepAlive)
    }

    /// Writes a complete local response except its `.end` (see `endResponse`).
    private func writeLocal(_ response: LocalResponse, keepAlive: Bool) {
        var headers = response.headers
        if response.status != .noContent {
            if !headers.contains(name: "content-type") { headers.add(name: "content-type", value: "application/json") }
            headers.replaceOrAdd(name: "content-length", value: String(response.body.readableBytes))
        }
        if !keepAlive { headers.replaceOrAdd(name: "connection", value: "close") }
        headers.replaceOrAdd(name: "x-request-id", value: requestID)
        context?.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: response.status, headers: headers))), promise: nil)
        record?.status = Int(response.status.code)
        record?.bytesSent += response.body.readableBytes
        if response.body.readableBytes > 0 {
            context?.write(wrapOutboundOut(.body(.byteBuffer(response.body))), promise: nil)
        }
    }

    /// Writes the response's `.end`; the machine decided what follows before (writing it can make NIO deliver
    /// the next request at once).
    private func endResponse(_ end: Machine.ResponseEnd) {
        finishRecord()
        switch end {
        case .keepReading(let timer):
            context?.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            if let timer { scheduleTimer(at: timer) }
        case .becomeIdle(let idle):
            becomeIdle(idle)
            context?.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            drainQueued()
        case .close:
            stopTimer()
            context?.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { [self] result in
                if case .success = result {
                    run(machine.responseFlushed(success: true, now: .now()))
                } else {
                    run(machine.responseFlushed(success: false, now: .now()))
                }
            }
        }
    }

    private func becomeIdle(_ idle: Machine.Idle) {
        if idle.read { context?.read() }
        if let timer = idle.timer { scheduleTimer(at: timer) }
    }

    /// Handles queued pipelined parts now that the previous exchange is over (after its `.end` was written).
    private func drainQueued() {
        while let part = machine.nextQueuedPart() { handle(part) }
        run(machine.queueDrained(now: .now()))
    }

    // MARK: the log line and the metrics

    private func noteSubject(_ response: LocalResponse) {
        guard let subject = response.subject else { return }
        record?.userID = subject.userID
        record?.sessionID = subject.sessionID
    }

    private func upstreamResponded(status: Int) {
        guard let started = record?.upstreamStarted else { return }
        let elapsed = Duration(NIODeadline.now() - started)
        record?.upstreamStatus = status
        record?.upstreamElapsed = elapsed
        record?.status = status
        record?.upstream?.metrics.responded(after: elapsed)
    }

    /// The request is over (`RequestRecord.finish`).
    private func finishRecord() {
        guard let record else { return }
        self.record = nil
        record.finish(remoteAddress: clientAddress, accessLog: accessLog)
    }

    // MARK: the timer

    private func scheduleTimer(at deadline: NIODeadline) {
        timer?.cancel()
        timer = eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            timer = nil
            run(machine.timerFired(now: .now()))
        }
    }

    private func stopTimer() {
        timer?.cancel()
        timer = nil
    }
}
