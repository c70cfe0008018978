import NIOCore
import NIOHTTP1
import Testing
@testable import GatewayCore

/// The connection's rules without a socket: events in, actions out, the time passed in.
struct ConnectionStateMachineTests {
    typealias Machine = ConnectionStateMachine
    typealias Action = Machine.Action

    static let settings = Machine.Settings(idleTimeout: .seconds(60), sendTimeout: .seconds(30), maxBodyBytes: 1000)
    static let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000)
    static let timeouts = Machine.UpstreamTimeouts(response: .seconds(5), read: .seconds(20))
    static let get = Machine.Request(method: .GET, language: .english, keepAlive: true)
    static let post = Machine.Request(method: .POST, language: .korean, keepAlive: true)
    static let forward = Machine.HeadVerdict.forward(timeouts, expectContinue: false)

    static func head(_ method: HTTPMethod = .GET) -> HTTPServerRequestPart {
        .head(HTTPRequestHead(version: .http1_1, method: method, uri: "/api/x"))
    }

    static func bytes(_ count: Int) -> ByteBuffer { ByteBuffer(repeating: UInt8(ascii: "x"), count: count) }

    static func error(_ error: GatewayError, _ request: Machine.Request = get, keepAlive: Bool,
                      headers: HTTPHeaders = [:]) -> Machine.ErrorResponse {
        .init(error: error, method: request.method, language: request.language, keepAlive: keepAlive, headers: headers)
    }

    static func start(continue sendContinue: Bool = false, held: [ByteBuffer] = [], finish: Bool = false,
                      read: Bool = false, timer: NIODeadline?) -> Action {
        .startUpstream(.init(sendContinue: sendContinue, heldBody: held, finishBody: finish, read: read, timer: timer))
    }

    static func idle(read: Bool = false, timer: NIODeadline? = nil) -> Machine.Idle { .init(read: read, timer: timer) }

    /// Active at t0: the idle timer fires at t0 + 60 s.
    static func active(_ settings: Machine.Settings = settings) -> Machine {
        var machine = Machine(settings: settings)
        _ = machine.channelActive(now: t0)
        return machine
    }

    /// A GET forwarded at t0 and read to its end; the timer fires at the response deadline (t0 + 5 s).
    static func proxyingGet(_ request: Machine.Request = get) -> Machine {
        var machine = active()
        _ = machine.partArrived(head())
        _ = machine.headReceived(request, forward, now: t0)
        _ = machine.partArrived(.end(nil))
        _ = machine.endReceived(now: t0)
        return machine
    }

    /// A POST forwarded at t0 whose body is still arriving.
    static func proxyingPost() -> Machine {
        var machine = active()
        _ = machine.headReceived(post, forward, now: t0)
        return machine
    }

    // MARK: one request after another

    @Test func activationStartsTheIdleTimerOnce() {
        var machine = Machine(settings: Self.settings)
        #expect(machine.channelActive(now: Self.t0) == .scheduleTimer(Self.t0 + .seconds(60)))
        #expect(machine.channelActive(now: Self.t0 + .seconds(1)) == .none)
        #expect(machine.timerFiresAt == Self.t0 + .seconds(60))
    }

    @Test func aForwardedGetOnAKeepAliveConnection() {
        let t0 = Self.t0
        var machine = Self.active()
        #expect(machine.partArrived(Self.head()) == .handle)
        #expect(machine.headReceived(Self.get, Self.forward, now: t0) == Self.start(timer: t0 + .seconds(5)))
        #expect(machine.partArrived(.end(nil)) == .handle)
        #expect(machine.endReceived(now: t0) == .finishUpstreamBody)
        #expect(machine.upstreamResponseHead() == .writeResponseHead(closeConnection: false))
        #expect(machine.upstreamResponseBody(Self.bytes(3), last: true) == .writeResponseBody(Self.bytes(3), flowControlled: false))
        // The timer stays where it is (t0 + 5 s); it finds the connection idle and sleeps until t0 + 61 s.
        #expect(machine.upstreamResponseEnded(now: t0 + .seconds(1)) == .writeResponseEnd(.becomeIdle(Self.idle())))
        #expect(machine.nextQueuedPart() == nil)
        #expect(machine.queueDrained(now: t0 + .seconds(1)) == .none)
        #expect(machine.timerFired(now: t0 + .seconds(5)) == .scheduleTimer(t0 + .seconds(61)))
        #expect(machine.timerFired(now: t0 + .seconds(61)) == .close(.idleTimeout, cancelUpstream: false))
    }

    @Test func aClientWithoutKeepAliveIsClosedAfterItsResponse() {
        var machine = Self.proxyingGet(Machine.Request(method: .GET, language: .english, keepAlive: false))
        #expect(machine.upstreamResponseHead() == .writeResponseHead(closeConnection: true))
        #expect(machine.upstreamResponseEnded(now: Self.t0) == .writeResponseEnd(.close))
        #expect(machine.timerFiresAt == nil)
        #expect(machine.responseFlushed(success: true, now: Self.t0) == .close(.done, cancelUpstream: false))
        #expect(machine.channelInactive() == .stop(cancelUpstream: false))
    }

    @Test func expectContinueIsAnsweredWhenTheRequestIsForwardedAtOnce() {
        var machine = Self.active()
        #expect(machine.headReceived(Self.post, .forward(Self.timeouts, expectContinue: true), now: Self.t0)
            == Self.start(continue: true, timer: Self.t0 + .seconds(5)))
    }

    @Test func aStreamedResponseGivesItsBytesBackAndOwesMoreByTheReadTimeout() {
        let t0 = Self.t0
        var machine = Self.proxyingGet()
        #expect(machine.upstreamResponseHead() == .writeResponseHead(closeConnection: false))
        #expect(machine.upstreamResponseBody(Self.bytes(5), last: false) == .writeResponseBody(Self.bytes(5), flowControlled: true))
        // The response deadline (t0 + 5 s) is earlier than the read deadline: the timer stays.
        #expect(machine.upstreamDeliveryWritten(now: t0 + .seconds(1)) == .flush(timer: nil))
        #expect(machine.timerFired(now: t0 + .seconds(5)) == .scheduleTimer(t0 + .seconds(21)))
        #expect(machine.upstreamResponseBody(Self.bytes(5), last: false) == .writeResponseBody(Self.bytes(5), flowControlled: true))
        #expect(machine.upstreamDeliveryWritten(now: t0 + .seconds(10)) == .flush(timer: nil))
        #expect(machine.timerFired(now: t0 + .seconds(21)) == .scheduleTimer(t0 + .seconds(30)))
        #expect(machine.upstreamResponseEnded(now: t0 + .seconds(22)) == .writeResponseEnd(.becomeIdle(Self.idle())))
    }

    // MARK: answered by the gateway

    @Test func aNotFoundKeepsTheConnectionAndDropsTheRestOfTheBody() {
        let t0 = Self.t0
        var machine = Self.active()
        #expect(machine.headReceived(Self.post, .answer(.notFound), now: t0)
            == .writeError(Self.error(.notFound, Self.post, keepAlive: true), cancelUpstream: false, .keepReading(timer: nil)))
        #expect(machine.partArrived(.body(Self.bytes(10))) == .handle)
        #expect(machine.bodyReceived(Self.bytes(10), now: t0) == .none)
        #expect(machine.endReceived(now: t0 + .seconds(1)) == .becomeIdle(Self.idle()))
        #expect(machine.timerFired(now: t0 + .seconds(60)) == .scheduleTimer(t0 + .seconds(61)))
    }

    @Test func aMethodNotAllowedCarriesItsAllowHeader() {
        var machine = Self.active()
        let allow: HTTPHeaders = ["Allow": "GET, HEAD"]
        #expect(machine.headReceived(Self.post, .answer(.methodNotAllowed, headers: allow), now: Self.t0)
            == .writeError(Self.error(.methodNotAllowed, Self.post, keepAlive: true, headers: allow), cancelUpstream: false,
                           .keepReading(timer: nil)))
    }

    @Test(arguments: [GatewayError.badRequest, .headerFieldsTooLarge, .payloadTooLarge])
    func aMalformedHeadIsAnsweredThenTheConnectionLingers(problem: GatewayError) {
        let t0 = Self.t0
        var machine = Self.active()
        #expect(machine.headReceived(Self.post, .answer(problem), now: t0)
            == .writeError(Self.error(problem, Self.post, keepAlive: false), cancelUpstream: false, .close))
        // The client is still sending: half-close, read and drop, close at the deadline.
        #expect(machine.responseFlushed(success: true, now: t0) == .halfCloseAndLinger(read: false, timer: t0 + .seconds(2)))
        #expect(machine.readRequested() == .read)
        #expect(machine.partArrived(.body(Self.bytes(10))) == .handle)
        #expect(machine.bodyReceived(Self.bytes(10), now: t0) == .none)
        #expect(machine.timerFired(now: t0 + .seconds(2)) == .close(.lingerOver, cancelUpstream: false))
    }

    @Test func aLingeringConnectionClosesWhenTheClientDoes() {
        var machine = Self.active()
        _ = machine.headReceived(Self.post, .answer(.payloadTooLarge), now: Self.t0)
        _ = machine.responseFlushed(success: true, now: Self.t0)
        #expect(machine.inputClosed() == .close(.inputClosed, cancelUpstream: false))
        #expect(machine.timerFired(now: Self.t0 + .seconds(2)) == .none)
    }

    @Test func aRequestReadToItsEndBeforeTheFlushIsClosedWithoutLingering() {
        var machine = Self.active()
        _ = machine.headReceived(Self.post, .answer(.badRequest), now: Self.t0)
        #expect(machine.partArrived(.end(nil)) == .handle)
        #expect(machine.endReceived(now: Self.t0) == .none)
        #expect(machine.responseFlushed(success: true, now: Self.t0) == .close(.done, cancelUpstream: false))
    }

    @Test func aFailedFlushCloses() {
        var machine = Self.active()
        _ = machine.headReceived(Self.post, .answer(.badRequest), now: Self.t0)
        #expect(machine.responseFlushed(success: false, now: Self.t0) == .close(.done, cancelUpstream: false))
    }

    // MARK: decisions

    @Test func anEndpointGetsTheWholeBodyThenItsResponseIsWritten() {
        let t0 = Self.t0
        var machine = Self.active()
        #expect(machine.headReceived(Self.post, .endpoint, now: t0) == .none)
        #expect(machine.bodyReceived(ByteBuffer(string: "{\"a\":"), now: t0) == .none)
        #expect(machine.bodyReceived(ByteBuffer(string: "1}"), now: t0) == .none)
        #expect(machine.endReceived(now: t0) == .respondFromEndpoint(body: ByteBuffer(string: "{\"a\":1}")))
        let response = LocalResponse(status: .created, json: "{}")
        #expect(machine.endpointResponded(response, now: t0 + .seconds(1))
            == .writeLocalResponse(response, keepAlive: true, .becomeIdle(Self.idle())))
        // Answered once: a late second answer changes nothing.
        #expect(machine.endpointFailed(.storeUnavailable, now: t0) == .none)
    }

    @Test func aFailedEndpointIsAnErrorAnswer() {
        var machine = Self.active()
        _ = machine.headReceived(Self.post, .endpoint, now: Self.t0)
        _ = machine.endReceived(now: Self.t0)
        #expect(machine.endpointFailed(.storeUnavailable, now: Self.t0)
            == .writeError(Self.error(.storeUnavailable, Self.post, keepAlive: true), cancelUpstream: false,
                           .becomeIdle(Self.idle())))
    }

    @Test func aHeldBodyOverTheLimitIs413InTheRequestsLanguage() {
        var machine = Self.active()
        _ = machine.headReceived(Self.post, .endpoint, now: Self.t0)
        #expect(machine.bodyReceived(Self.bytes(600), now: Self.t0) == .none)
        #expect(machine.bodyReceived(Self.bytes(600), now: Self.t0)
            == .writeError(Self.error(.payloadTooLarge, Self.post, keepAlive: false), cancelUpstream: false, .close))
        #expect(machine.endpointResponded(LocalResponse(status: .ok, json: "{}"), now: Self.t0) == .none)
    }

    @Test func aBodyHeldForAuthIsSentOnceAuthAllowsIt() {
        let t0 = Self.t0
        var settings = Self.settings
        settings.heldBodyBytes = 8
        var machine = Self.active(settings)
        #expect(machine.headReceived(Self.post, .authorize, now: t0) == .none)
        #expect(machine.bodyReceived(Self.bytes(5), now: t0) == .none)
        #expect(machine.bodyReceived(Self.bytes(5), now: t0) == .none)
        // Held bytes beyond the bound pause reading.
        #expect(machine.readRequested() == .none)
        #expect(machine.decisionArrived(.forward(Self.timeouts), now: t0 + .seconds(1))
            == Self.start(held: [Self.bytes(5), Self.bytes(5)], read: true, timer: t0 + .seconds(6)))
        #expect(machine.bodyReceived(Self.bytes(1), now: t0) == .sendBodyToUpstream(Self.bytes(1)))
        #expect(machine.endReceived(now: t0) == .finishUpstreamBody)
        // A decision that comes twice is ignored.
        #expect(machine.decisionArrived(.deny(.notAuthenticated), now: t0) == .none)
    }

    @Test func aBodyReadToItsEndWhileAuthDecidesIsFinishedAtTheStart() {
        var machine = Self.active()
        _ = machine.headReceived(Self.post, .authorize, now: Self.t0)
        _ = machine.bodyReceived(Self.bytes(2), now: Self.t0)
        _ = machine.endReceived(now: Self.t0)
        #expect(machine.decisionArrived(.forward(Self.timeouts), now: Self.t0)
            == Self.start(held: [Self.bytes(2)], finish: true, timer: Self.t0 + .seconds(5)))
    }

    @Test func aDenialBeforeTheBodyEndedClosesTheConnection() {
        var machine = Self.active()
        _ = machine.headReceived(Self.post, .authorize, now: Self.t0)
        let headers: HTTPHeaders = ["X-Access-Token": "t"]
        #expect(machine.decisionArrived(.deny(.notAuthenticated, headers: headers), now: Self.t0)
            == .writeError(Self.error(.notAuthenticated, Self.post, keepAlive: false, headers: headers), cancelUpstream: false, .close))
    }

    @Test func aDenialAfterTheBodyEndedKeepsTheConnection() {
        var machine = Self.active()
        _ = machine.headReceived(Self.get, .authorize, now: Self.t0)
        _ = machine.endReceived(now: Self.t0)
        #expect(machine.decisionArrived(.deny(.storeUnavailable), now: Self.t0)
            == .writeError(Self.error(.storeUnavailable, keepAlive: true), cancelUpstream: false, .becomeIdle(Self.idle())))
    }

    @Test func aDecisionForAClosedConnectionIsIgnored() {
        var machine = Self.active()
        _ = machine.headReceived(Self.get, .authorize, now: Self.t0)
        #expect(machine.connectionFailed() == .close(.clientGone, cancelUpstream: false))
        #expect(machine.decisionArrived(.forward(Self.timeouts), now: Self.t0) == .none)
    }

    // MARK: request body backpressure and limits

    @Test func aFullUpstreamBufferPausesReadingAndTheBodyDeadlineWithIt() {
        let t0 = Self.t0
        var settings = Self.settings
        settings.idleTimeout = .seconds(1)
        var machine = Self.active(settings)
        _ = machine.headReceived(Self.post, Self.forward, now: t0)
        #expect(machine.bodyReceived(Self.bytes(10), now: t0) == .sendBodyToUpstream(Self.bytes(10)))
        machine.upstreamRequestBodyFull()
        #expect(machine.readRequested() == .none)
        // Paused by the gateway: the client's idle_timeout does not run; the response deadline does.
        #expect(machine.timerFired(now: t0 + .seconds(1)) == .scheduleTimer(t0 + .seconds(5)))
        #expect(machine.upstreamWantsMoreRequestBody(now: t0 + .seconds(3)) == .read)
        #expect(machine.upstreamWantsMoreRequestBody(now: t0 + .seconds(3)) == .none)
        // From the resume on, the client has idle_timeout again.
        #expect(machine.timerFired(now: t0 + .seconds(5)) == .writeError(Self.error(.upstreamTimeout, Self.post, keepAlive: true),
                                                                    cancelUpstream: true, .keepReading(timer: t0 + .seconds(4))))
    }

    @Test func aBodyOverTheLimitBeforeTheResponseIs413AndCancelsTheUpstream() {
        var machine = Self.proxyingPost()
        #expect(machine.bodyReceived(Self.bytes(1000), now: Self.t0) == .sendBodyToUpstream(Self.bytes(1000)))
        #expect(machine.bodyReceived(Self.bytes(1), now: Self.t0)
            == .writeError(Self.error(.payloadTooLarge, Self.post, keepAlive: false), cancelUpstream: true, .close))
        #expect(machine.channelInactive() == .stop(cancelUpstream: false))
    }

    @Test func aBodyOverTheLimitAfterTheResponseStartedClosesAndCancels() {
        var machine = Self.proxyingPost()
        _ = machine.upstreamResponseHead()
        #expect(machine.bodyReceived(Self.bytes(1001), now: Self.t0) == .close(.bodyTooLarge, cancelUpstream: true))
    }

    @Test func aBodyOverTheLimitAfterTheResponseEndedCloses() {
        var machine = Self.proxyingPost()
        _ = machine.upstreamResponseHead()
        #expect(machine.upstreamResponseEnded(now: Self.t0) == .writeResponseEnd(.keepReading(timer: nil)))
        #expect(machine.bodyReceived(Self.bytes(10), now: Self.t0) == .none)
        #expect(machine.bodyReceived(Self.bytes(1000), now: Self.t0) == .close(.bodyTooLarge, cancelUpstream: false))
    }

    @Test func aRequestThatEndsAfterItsResponseMakesTheConnectionIdle() {
        var machine = Self.proxyingPost()
        _ = machine.upstreamResponseHead()
        _ = machine.upstreamResponseEnded(now: Self.t0)
        #expect(machine.endReceived(now: Self.t0) == .becomeIdle(Self.idle()))
    }

    // MARK: upstream failures

    @Test func anUnreachableUpstreamIs502() {
        var machine = Self.proxyingGet()
        #expect(machine.upstreamFailed(now: Self.t0)
            == .writeError(Self.error(.upstreamUnavailable, keepAlive: true), cancelUpstream: false, .becomeIdle(Self.idle())))
    }

    @Test func anUpstreamFailureWhileTheBodyIsSentIs502AndTheRestOfTheBodyIsDropped() {
        var machine = Self.proxyingPost()
        _ = machine.bodyReceived(Self.bytes(10), now: Self.t0)
        #expect(machine.upstreamFailed(now: Self.t0)
            == .writeError(Self.error(.upstreamUnavailable, Self.post, keepAlive: true), cancelUpstream: false,
                           .keepReading(timer: nil)))
        #expect(machine.bodyReceived(Self.bytes(10), now: Self.t0) == .none)
        #expect(machine.endReceived(now: Self.t0) == .becomeIdle(Self.idle()))
    }

    @Test func anUpstreamThatBreaksOffMidBodyClosesTheConnection() {
        var machine = Self.proxyingGet()
        _ = machine.upstreamResponseHead()
        _ = machine.upstreamResponseBody(Self.bytes(3), last: false)
        _ = machine.upstreamDeliveryWritten(now: Self.t0)
        #expect(machine.upstreamFailed(now: Self.t0) == .close(.upstreamBrokeOff, cancelUpstream: false))
        // Nothing more is written for it.
        #expect(machine.upstreamResponseBody(Self.bytes(3), last: true) == .none)
        #expect(machine.upstreamResponseEnded(now: Self.t0) == .none)
    }

    // MARK: the timer in each state

    @Test func timerInIdleClosesOnlyWhenTheIdleDeadlinePassed() {
        var machine = Self.active()
        #expect(machine.timerFired(now: Self.t0 + .seconds(59)) == .scheduleTimer(Self.t0 + .seconds(60)))
        #expect(machine.timerFired(now: Self.t0 + .seconds(60)) == .close(.idleTimeout, cancelUpstream: false))
    }

    @Test func timerInAnsweredClosesAStalledBody() {
        var machine = Self.active()
        _ = machine.headReceived(Self.post, .answer(.notFound), now: Self.t0 + .seconds(1))
        _ = machine.bodyReceived(Self.bytes(1), now: Self.t0 + .seconds(2))
        #expect(machine.timerFired(now: Self.t0 + .seconds(60)) == .scheduleTimer(Self.t0 + .seconds(62)))
        #expect(machine.timerFired(now: Self.t0 + .seconds(62)) == .close(.requestBodyStalled, cancelUpstream: false))
    }

    @Test func timerInDecidingClosesAStalledBodyButWaitsForAComplete() {
        var stalled = Self.active()
        _ = stalled.headReceived(Self.post, .authorize, now: Self.t0)
        #expect(stalled.timerFired(now: Self.t0 + .seconds(60)) == .close(.requestBodyStalled, cancelUpstream: false))

        var complete = Self.active()
        _ = complete.headReceived(Self.get, .authorize, now: Self.t0)
        _ = complete.endReceived(now: Self.t0)
        #expect(complete.timerFired(now: Self.t0 + .seconds(60)) == .none)
    }

    @Test func timerInProxyingIs504BeforeTheResponseHead() {
        var machine = Self.proxyingGet()
        #expect(machine.timerFired(now: Self.t0 + .seconds(5))
            == .writeError(Self.error(.upstreamTimeout, keepAlive: true), cancelUpstream: true,
                           .becomeIdle(Self.idle(timer: Self.t0 + .seconds(65)))))
        // A delivery that still comes is not written.
        #expect(machine.upstreamResponseHead() == .none)
    }

    @Test func timerInProxyingClosesAStalledUpstreamMidBody() {
        var machine = Self.proxyingGet()
        _ = machine.upstreamResponseHead()
        _ = machine.upstreamDeliveryWritten(now: Self.t0 + .seconds(1))
        #expect(machine.timerFired(now: Self.t0 + .seconds(5)) == .scheduleTimer(Self.t0 + .seconds(21)))
        #expect(machine.timerFired(now: Self.t0 + .seconds(21)) == .close(.upstreamStalled, cancelUpstream: true))
    }

    @Test func timerInProxyingClosesAStalledRequestBody() {
        var machine = Self.proxyingPost()
        _ = machine.upstreamResponseHead()
        _ = machine.upstreamResponseEnded(now: Self.t0)
        #expect(machine.timerFired(now: Self.t0 + .seconds(60)) == .close(.requestBodyStalled, cancelUpstream: false))
    }

    @Test func timerWhileClosingDoesNothing() {
        var machine = Self.active()
        _ = machine.headReceived(Self.post, .answer(.badRequest), now: Self.t0)
        #expect(machine.timerFired(now: Self.t0 + .seconds(60)) == .none)
    }

    @Test func timerAfterCloseDoesNothing() {
        var machine = Self.active()
        _ = machine.channelInactive()
        #expect(machine.timerFired(now: Self.t0 + .seconds(60)) == .none)
    }

    // MARK: a client that reads nothing

    @Test func aClientThatReadsNothingIsClosedAfterTheSendTimeout() {
        let t0 = Self.t0
        var machine = Self.proxyingGet()
        _ = machine.upstreamResponseHead()
        _ = machine.upstreamResponseBody(Self.bytes(5), last: false)
        #expect(machine.writabilityChanged(isWritable: false, now: t0 + .seconds(1)) == .none)
        _ = machine.upstreamDeliveryWritten(now: t0 + .seconds(1))
        #expect(machine.timerFired(now: t0 + .seconds(5)) == .scheduleTimer(t0 + .seconds(21)))
        // Progress moves the send deadline, not the timer (it re-checks when it fires).
        machine.responseBodyWritten(now: t0 + .seconds(10))
        #expect(machine.timerFired(now: t0 + .seconds(21)) == .close(.upstreamStalled, cancelUpstream: true))

        var stuck = Self.proxyingGet()
        _ = stuck.upstreamResponseHead()
        #expect(stuck.writabilityChanged(isWritable: false, now: t0) == .none)
        _ = stuck.timerFired(now: t0 + .seconds(5))
        #expect(stuck.timerFired(now: t0 + .seconds(30)) == .close(.sendTimeout, cancelUpstream: true))
    }

    @Test func anUnwritableIdleConnectionMovesTheTimerEarlier() {
        var settings = Self.settings
        settings.sendTimeout = .seconds(10)
        var machine = Self.active(settings)
        #expect(machine.writabilityChanged(isWritable: false, now: Self.t0) == .scheduleTimer(Self.t0 + .seconds(10)))
        #expect(machine.writabilityChanged(isWritable: true, now: Self.t0 + .seconds(1)) == .none)
        #expect(machine.timerFired(now: Self.t0 + .seconds(10)) == .scheduleTimer(Self.t0 + .seconds(60)))
    }

    @Test func aClientThatCatchesUpRestartsTheUpstreamsReadTimeout() {
        let t0 = Self.t0
        var machine = Self.proxyingGet()
        _ = machine.upstreamResponseHead()
        _ = machine.upstreamDeliveryWritten(now: t0)
        _ = machine.writabilityChanged(isWritable: false, now: t0)
        #expect(machine.writabilityChanged(isWritable: true, now: t0 + .seconds(15)) == .none)
        _ = machine.timerFired(now: t0 + .seconds(5))
        #expect(machine.timerFired(now: t0 + .seconds(20)) == .scheduleTimer(t0 + .seconds(35)))
    }

    // MARK: shutdown in each state

    @Test func quiesceWhileIdleCloses() {
        var machine = Self.active()
        #expect(machine.quiesce() == .close(.quiesced, cancelUpstream: false))
        #expect(machine.quiesce() == .none)
    }

    @Test func quiesceWhileProxyingFinishesTheResponseThenCloses() {
        var machine = Self.proxyingGet()
        #expect(machine.quiesce() == .none)
        #expect(machine.upstreamResponseHead() == .writeResponseHead(closeConnection: true))
        #expect(machine.upstreamResponseEnded(now: Self.t0) == .writeResponseEnd(.close))
        #expect(machine.responseFlushed(success: true, now: Self.t0) == .close(.done, cancelUpstream: false))
    }

    @Test func quiesceWhileAnsweredClosesAtTheRequestsEnd() {
        var machine = Self.active()
        _ = machine.headReceived(Self.post, .answer(.notFound), now: Self.t0)
        #expect(machine.quiesce() == .none)
        #expect(machine.endReceived(now: Self.t0) == .close(.done, cancelUpstream: false))
    }

    @Test func quiesceWhileDecidingAnswersThenCloses() {
        var machine = Self.active()
        _ = machine.headReceived(Self.post, .endpoint, now: Self.t0)
        _ = machine.endReceived(now: Self.t0)
        #expect(machine.quiesce() == .none)
        let response = LocalResponse(status: .ok, json: "{}")
        #expect(machine.endpointResponded(response, now: Self.t0) == .writeLocalResponse(response, keepAlive: true, .close))
    }

    @Test func quiesceBeforeAHeadMakesItsAnswerTheLast() {
        var machine = Self.active()
        _ = machine.partArrived(Self.head())
        // Arrived in the same read as the quiesce event, handled after it.
        var other = machine
        #expect(other.quiesce() == .close(.quiesced, cancelUpstream: false))
        #expect(machine.headReceived(Self.get, .answer(.notFound), now: Self.t0) != .none)
        #expect(machine.quiesce() == .none)
        #expect(machine.endReceived(now: Self.t0) == .close(.done, cancelUpstream: false))
    }

    @Test func quiesceWhileClosingOrLingeringChangesNothing() {
        var machine = Self.active()
        _ = machine.headReceived(Self.post, .answer(.badRequest), now: Self.t0)
        #expect(machine.quiesce() == .none)
        _ = machine.responseFlushed(success: true, now: Self.t0)
        #expect(machine.quiesce() == .none)
        #expect(machine.timerFired(now: Self.t0 + .seconds(2)) == .close(.lingerOver, cancelUpstream: false))
        #expect(machine.quiesce() == .none)
    }

    // MARK: half-close in each state

    @Test func inputClosedWhileIdleCloses() {
        var machine = Self.active()
        #expect(machine.inputClosed() == .close(.inputClosed, cancelUpstream: false))
    }

    @Test func inputClosedAfterACompleteRequestAnswersItThenCloses() {
        var machine = Self.proxyingGet()
        #expect(machine.inputClosed() == .none)
        _ = machine.upstreamResponseHead()
        #expect(machine.upstreamResponseEnded(now: Self.t0) == .writeResponseEnd(.becomeIdle(Self.idle())))
        #expect(machine.nextQueuedPart() == nil)
        #expect(machine.queueDrained(now: Self.t0) == .close(.inputClosed, cancelUpstream: false))
    }

    @Test func inputClosedInTheMiddleOfARequestAbandonsIt() {
        var proxying = Self.proxyingPost()
        #expect(proxying.inputClosed() == .close(.inputClosed, cancelUpstream: true))

        var deciding = Self.active()
        _ = deciding.headReceived(Self.post, .authorize, now: Self.t0)
        #expect(deciding.inputClosed() == .close(.inputClosed, cancelUpstream: false))

        var answered = Self.active()
        _ = answered.headReceived(Self.post, .answer(.notFound), now: Self.t0)
        #expect(answered.inputClosed() == .close(.inputClosed, cancelUpstream: false))
    }

    @Test func inputClosedWhileAnEndpointIsAnsweringWaitsForTheAnswer() {
        var machine = Self.active()
        _ = machine.headReceived(Self.post, .endpoint, now: Self.t0)
        _ = machine.endReceived(now: Self.t0)
        #expect(machine.inputClosed() == .none)
        let response = LocalResponse(status: .ok, json: "{}")
        #expect(machine.endpointResponded(response, now: Self.t0) == .writeLocalResponse(response, keepAlive: true, .becomeIdle(Self.idle())))
        #expect(machine.queueDrained(now: Self.t0) == .close(.inputClosed, cancelUpstream: false))
    }

    @Test func inputClosedWhileClosingClosesAtOnce() {
        var machine = Self.active()
        _ = machine.headReceived(Self.post, .answer(.badRequest), now: Self.t0)
        #expect(machine.inputClosed() == .close(.inputClosed, cancelUpstream: false))
        #expect(machine.responseFlushed(success: true, now: Self.t0) == .none)
        #expect(machine.inputClosed() == .none)
    }

    // MARK: a client that goes away

    @Test func aClientGoneWhileProxyingCancelsTheUpstreamTransfer() {
        var beforeResponse = Self.proxyingGet()
        #expect(beforeResponse.channelInactive() == .stop(cancelUpstream: true))

        var midBody = Self.proxyingGet()
        _ = midBody.upstreamResponseHead()
        #expect(midBody.connectionFailed() == .close(.clientGone, cancelUpstream: true))
        #expect(midBody.channelInactive() == .stop(cancelUpstream: false))

        var sendingBody = Self.proxyingPost()
        _ = sendingBody.bodyReceived(Self.bytes(3), now: Self.t0)
        #expect(sendingBody.connectionFailed() == .close(.clientGone, cancelUpstream: true))

        var done = Self.proxyingGet()
        _ = done.upstreamResponseHead()
        _ = done.upstreamResponseEnded(now: Self.t0)
        #expect(done.channelInactive() == .stop(cancelUpstream: false))
    }

    @Test func aClientGoneInAnyOtherStateCancelsNothing() {
        var idle = Self.active()
        #expect(idle.channelInactive() == .stop(cancelUpstream: false))
        var deciding = Self.active()
        _ = deciding.headReceived(Self.get, .authorize, now: Self.t0)
        #expect(deciding.channelInactive() == .stop(cancelUpstream: false))
        #expect(deciding.connectionFailed() == .none)
    }

    // MARK: pipelining

    @Test func aPipelinedRequestWaitsForTheResponseBeforeIt() {
        let t0 = Self.t0
        var machine = Self.proxyingGet()
        #expect(machine.partArrived(Self.head()) == .queued)
        #expect(machine.partArrived(.end(nil)) == .queued)
        _ = machine.upstreamResponseHead()
        #expect(machine.upstreamResponseEnded(now: t0 + .seconds(1)) == .writeResponseEnd(.becomeIdle(Self.idle())))
        #expect(machine.nextQueuedPart() == Self.head())
        #expect(machine.headReceived(Self.get, .answer(.notFound), now: t0 + .seconds(1))
            == .writeError(Self.error(.notFound, keepAlive: true), cancelUpstream: false, .keepReading(timer: nil)))
        #expect(machine.nextQueuedPart() == .end(nil))
        #expect(machine.endReceived(now: t0 + .seconds(1)) == .becomeIdle(Self.idle()))
        #expect(machine.nextQueuedPart() == nil)
        #expect(machine.queueDrained(now: t0 + .seconds(1)) == .none)
    }

    @Test func pipelinedRequestsThatPileUpPauseReadingUntilTheyAreHandled() {
        var machine = Self.proxyingGet()
        for _ in 0..<8 {
            #expect(machine.partArrived(Self.head()) == .queued)
            #expect(machine.partArrived(.end(nil)) == .queued)
        }
        #expect(machine.readRequested() == .read)
        #expect(machine.partArrived(Self.head()) == .queued)
        #expect(machine.readRequested() == .none)
        _ = machine.upstreamResponseHead()
        _ = machine.upstreamResponseEnded(now: Self.t0)
        var handled = 0
        while let part = machine.nextQueuedPart() {
            switch part {
            case .head: _ = machine.headReceived(Self.get, .answer(.notFound), now: Self.t0)
            case .body: break
            case .end: _ = machine.endReceived(now: Self.t0)
            }
            handled += 1
        }
        #expect(handled == 17)
        #expect(machine.queueDrained(now: Self.t0) == .read)
    }

    @Test func aMalformedRequestBehindOneBeingAnsweredGetsIts400AfterThatAnswer() {
        var machine = Self.proxyingGet()
        #expect(machine.parseError(.badRequest, now: Self.t0) == .none)
        #expect(machine.readRequested() == .none)
        _ = machine.upstreamResponseHead()
        #expect(machine.upstreamResponseEnded(now: Self.t0) == .writeResponseEnd(.becomeIdle(Self.idle())))
        #expect(machine.nextQueuedPart() == nil)
        #expect(machine.queueDrained(now: Self.t0)
            == .writeError(Self.error(.badRequest, keepAlive: false), cancelUpstream: false, .close))
        #expect(machine.responseFlushed(success: true, now: Self.t0) == .close(.done, cancelUpstream: false))
    }

    @Test func aMalformedRequestBehindAQueuedOneWaitsForBoth() {
        var machine = Self.proxyingGet()
        _ = machine.partArrived(Self.head())
        _ = machine.partArrived(.end(nil))
        #expect(machine.parseError(.headerFieldsTooLarge, now: Self.t0) == .none)
        _ = machine.upstreamResponseHead()
        _ = machine.upstreamResponseEnded(now: Self.t0)
        #expect(machine.nextQueuedPart() == Self.head())
        _ = machine.headReceived(Self.get, Self.forward, now: Self.t0)
        #expect(machine.nextQueuedPart() == .end(nil))
        #expect(machine.endReceived(now: Self.t0) == .finishUpstreamBody)
        #expect(machine.nextQueuedPart() == nil)
        #expect(machine.queueDrained(now: Self.t0) == .none)
        _ = machine.upstreamResponseHead()
        _ = machine.upstreamResponseEnded(now: Self.t0)
        #expect(machine.queueDrained(now: Self.t0)
            == .writeError(Self.error(.headerFieldsTooLarge, keepAlive: false), cancelUpstream: false, .close))
    }

    @Test func aParseErrorIsAnsweredInEachState() {
        var idle = Self.active()
        #expect(idle.parseError(.badRequest, now: Self.t0)
            == .writeError(Self.error(.badRequest, keepAlive: false), cancelUpstream: false, .close))

        var sending = Self.proxyingPost()
        #expect(sending.parseError(.badRequest, now: Self.t0)
            == .writeError(Self.error(.badRequest, Self.post, keepAlive: false), cancelUpstream: true, .close))

        var streaming = Self.proxyingPost()
        _ = streaming.upstreamResponseHead()
        #expect(streaming.parseError(.badRequest, now: Self.t0) == .close(.clientGone, cancelUpstream: true))

        var closed = Self.active()
        _ = closed.channelInactive()
        #expect(closed.parseError(.badRequest, now: Self.t0) == .none)
    }

    @Test func aHalfCloseInTheMiddleOfAPipelinedRequestClosesOnceItsTurnComes() {
        var machine = Self.proxyingGet()
        _ = machine.partArrived(.head(HTTPRequestHead(version: .http1_1, method: .POST, uri: "/api/x")))
        #expect(machine.inputClosed() == .none)
        _ = machine.upstreamResponseHead()
        _ = machine.upstreamResponseEnded(now: Self.t0)
        #expect(machine.nextQueuedPart() != nil)
        _ = machine.headReceived(Self.post, Self.forward, now: Self.t0)
        #expect(machine.nextQueuedPart() == nil)
        #expect(machine.queueDrained(now: Self.t0) == .close(.inputClosed, cancelUpstream: true))
    }

    @Test func aHeadOnAnEndingConnectionIsIgnored() {
        var machine = Self.active()
        _ = machine.headReceived(Self.post, .answer(.badRequest), now: Self.t0)
        #expect(machine.partArrived(Self.head()) == .ignored)
        #expect(machine.partArrived(.body(Self.bytes(1))) == .handle)
    }

    // MARK: switching protocols (WebSocket, docs/http.md#websocket)

    static let tunnel = Machine.Request(method: .GET, language: .english, keepAlive: true, upgrade: .tunnel)

    @Test func aTunnelRequestStopsReadingAtItsHeadAndHandsTheConnectionOverOnA101() {
        var machine = Self.active()
        #expect(machine.partArrived(Self.head()) == .handle)
        #expect(machine.headReceived(Self.tunnel, Self.forward, now: Self.t0) == Self.start(timer: Self.t0 + .seconds(5)))
        #expect(machine.partArrived(.end(nil)) == .handle)
        #expect(machine.endReceived(now: Self.t0) == .none, "the request's end is not the end of what goes up")
        #expect(machine.readRequested() == .none, "the client's next bytes are the tunnel's")
        #expect(machine.upstreamSwitchedProtocols() == .switchProtocols(quiescing: false))
        #expect(machine.timerFiresAt == nil)
        #expect(machine.timerFired(now: Self.t0 + .seconds(5)) == .none, "no response deadline after the switch")
        #expect(machine.readRequested() == .none)
        #expect(machine.channelInactive() == .stop(cancelUpstream: false), "the exchange is the tunnel's now")
    }

    @Test func aTunnelRequestAuthorizedLaterDoesNotFinishTheUpstreamBody() {
        var machine = Self.active()
        #expect(machine.headReceived(Self.tunnel, .authorize, now: Self.t0) == .none)
        #expect(machine.endReceived(now: Self.t0) == .none)
        #expect(machine.readRequested() == .none)
        #expect(machine.decisionArrived(.forward(Self.timeouts), now: Self.t0)
            == Self.start(finish: false, read: false, timer: Self.t0 + .seconds(5)))
        #expect(machine.upstreamSwitchedProtocols() == .switchProtocols(quiescing: false))
    }

    @Test func aTunnelAnsweredWithoutA101ClosesTheConnectionAfterTheResponse() {
        var machine = Self.active()
        _ = machine.headReceived(Self.tunnel, Self.forward, now: Self.t0)
        _ = machine.endReceived(now: Self.t0)
        #expect(machine.upstreamResponseHead() == .writeResponseHead(closeConnection: true))
        #expect(machine.upstreamSwitchedProtocols() == .none, "a response started is not switched")
        #expect(machine.upstreamResponseEnded(now: Self.t0) == .writeResponseEnd(.close))
        #expect(machine.responseFlushed(success: true, now: Self.t0) == .close(.done, cancelUpstream: false))
    }

    @Test func aDeniedTunnelRequestIsAnsweredAndClosed() {
        var machine = Self.active()
        #expect(machine.headReceived(Self.tunnel, .answer(.notAuthenticated), now: Self.t0)
            == .writeError(Self.error(.notAuthenticated, keepAlive: false), cancelUpstream: false, .close))
        #expect(machine.endReceived(now: Self.t0) == .none)
        #expect(machine.responseFlushed(success: true, now: Self.t0) == .close(.done, cancelUpstream: false))
    }

    @Test func aTunnelWhoseUpstreamIsSilentIsA504() {
        var machine = Self.active()
        _ = machine.headReceived(Self.tunnel, Self.forward, now: Self.t0)
        _ = machine.endReceived(now: Self.t0)
        #expect(machine.timerFired(now: Self.t0 + .seconds(5))
            == .writeError(Self.error(.upstreamTimeout, keepAlive: false), cancelUpstream: true, .close))
        #expect(machine.upstreamSwitchedProtocols() == .none, "a 101 after the 504 switches nothing")
    }

    @Test func aSwitchDuringShutdownTellsTheTunnel() {
        var machine = Self.active()
        _ = machine.headReceived(Self.tunnel, Self.forward, now: Self.t0)
        #expect(machine.quiesce() == .none)
        #expect(machine.upstreamSwitchedProtocols() == .switchProtocols(quiescing: true))
    }

    @Test func onlyATunnelRequestSwitches() {
        var machine = Self.proxyingGet()
        #expect(machine.upstreamSwitchedProtocols() == .none)
    }

    @Test func aDeclinedUpgradeIsAnOrdinaryRequestWhoseResponseCloses() {
        var machine = Self.active()
        let declined = Machine.Request(method: .GET, language: .english, keepAlive: true, upgrade: .declined)
        _ = machine.headReceived(declined, Self.forward, now: Self.t0)
        #expect(machine.endReceived(now: Self.t0) == .finishUpstreamBody)
        #expect(machine.readRequested() == .read)
        #expect(machine.upstreamResponseHead() == .writeResponseHead(closeConnection: true))
        #expect(machine.upstreamSwitchedProtocols() == .none)
    }
}
