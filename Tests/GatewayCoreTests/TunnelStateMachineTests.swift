import NIOCore
import Testing
@testable import GatewayCore

/// A WebSocket tunnel's client connection without a socket (docs/http.md#websocket): events in, actions out.
struct TunnelStateMachineTests {
    typealias Machine = TunnelStateMachine

    static let settings = Machine.Settings(sendTimeout: .seconds(30), shutdownTimeout: .seconds(10))
    static let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000)

    /// Just switched: the decoder is still leaving.
    static func switched() -> Machine { Machine(settings: settings) }

    /// Open and reading.
    static func open() -> Machine {
        var machine = switched()
        _ = machine.codecRemoved()
        return machine
    }

    // MARK: reading

    @Test func theReadHeldBeforeTheSwitchIsOwedOnceTheDecoderHasLeft() {
        var machine = Self.switched()
        #expect(machine.readRequested() == .none, "bytes read now would land in NIO's HTTP/1 decoder")
        #expect(machine.codecRemoved() == .read)
        #expect(machine.readRequested() == .read)
    }

    @Test func aFullUpstreamBufferHoldsReadingUntilItWantsMore() {
        var machine = Self.open()
        machine.upstreamBufferFull()
        #expect(machine.readRequested() == .none)
        #expect(machine.readRequested() == .none)
        #expect(machine.upstreamWantsMore() == .read)
        #expect(machine.upstreamWantsMore() == .none, "one held read, passed on once")
    }

    @Test func theUpstreamWantingMoreWithoutAHeldReadReadsNothing() {
        var machine = Self.open()
        machine.upstreamBufferFull()
        #expect(machine.upstreamWantsMore() == .none)
    }

    // MARK: the ends

    @Test func theUpstreamClosingFlushesThenClosesWithoutCancelling() {
        var machine = Self.open()
        #expect(machine.upstreamEnded(success: true) == .flushThenClose)
        #expect(machine.readRequested() == .none, "nothing more goes up")
        #expect(machine.flushed() == .close(.upstreamClosed, cancelUpstream: false))
        #expect(machine.channelInactive() == .stop(cancelUpstream: false))
    }

    @Test func anUpstreamFailureIsLoggedAsOne() {
        var machine = Self.open()
        #expect(machine.upstreamEnded(success: false) == .flushThenClose)
        #expect(machine.flushed() == .close(.upstreamBrokeOff, cancelUpstream: false))
    }

    @Test func theClientGoingAwayCancelsTheUpstream() {
        var machine = Self.open()
        #expect(machine.channelInactive() == .stop(cancelUpstream: true))
        #expect(machine.upstreamEnded(success: true) == .none)
        #expect(machine.revoked() == .none)
    }

    @Test func aClientThatStopsSendingFinishesTheUpstreamSide() {
        var machine = Self.open()
        #expect(machine.clientInputClosed() == .finishUpstream)
        #expect(machine.upstreamEnded(success: true) == .flushThenClose)
        #expect(machine.clientInputClosed() == .none)
    }

    @Test func anIOErrorClosesBothSides() {
        var machine = Self.open()
        #expect(machine.connectionFailed() == .close(.clientGone, cancelUpstream: true))
        #expect(machine.channelInactive() == .stop(cancelUpstream: false))
    }

    // MARK: revocation

    @Test func revocationClosesAtOnceAndOnce() {
        var machine = Self.open()
        #expect(machine.revoked() == .close(.revoked, cancelUpstream: true))
        #expect(machine.revoked() == .none)
        #expect(machine.timerFired(now: Self.t0) == .none)
    }

    @Test func revocationWhileTheUpstreamsLastBytesFlushStillCloses() {
        var machine = Self.open()
        _ = machine.upstreamEnded(success: true)
        #expect(machine.revoked() == .close(.revoked, cancelUpstream: false))
        #expect(machine.flushed() == .none)
    }

    // MARK: time

    @Test func shutdownLetsTheTunnelFlowUntilShutdownTimeout() {
        var machine = Self.open()
        #expect(machine.quiesce(now: Self.t0) == .scheduleTimer(Self.t0 + .seconds(10)))
        #expect(machine.quiesce(now: Self.t0 + .seconds(5)) == .none, "the first shutdown's deadline stands")
        #expect(machine.readRequested() == .read, "still flowing")
        #expect(machine.timerFired(now: Self.t0 + .seconds(10)) == .close(.shutdown, cancelUpstream: true))
    }

    @Test func aClientThatReadsNothingForSendTimeoutIsClosed() {
        var machine = Self.open()
        #expect(machine.writabilityChanged(isWritable: false, now: Self.t0) == .scheduleTimer(Self.t0 + .seconds(30)))
        machine.bytesWritten(now: Self.t0 + .seconds(20))
        #expect(machine.timerFired(now: Self.t0 + .seconds(30)) == .scheduleTimer(Self.t0 + .seconds(50)),
                "it read something at 20 s: 30 s more from then")
        #expect(machine.timerFired(now: Self.t0 + .seconds(50)) == .close(.sendTimeout, cancelUpstream: true))
    }

    @Test func aClientThatCatchesUpIsNotClosed() {
        var machine = Self.open()
        _ = machine.writabilityChanged(isWritable: false, now: Self.t0)
        #expect(machine.writabilityChanged(isWritable: true, now: Self.t0 + .seconds(1)) == .none)
        #expect(machine.timerFired(now: Self.t0 + .seconds(30)) == .none)
        #expect(machine.readRequested() == .read)
    }

    @Test func theEarlierDeadlineDecidesAndTheLaterOneStillCounts() {
        var machine = Self.open()
        #expect(machine.writabilityChanged(isWritable: false, now: Self.t0) == .scheduleTimer(Self.t0 + .seconds(30)))
        #expect(machine.quiesce(now: Self.t0) == .scheduleTimer(Self.t0 + .seconds(10)), "earlier: the timer moves")
        #expect(machine.timerFired(now: Self.t0 + .seconds(10)) == .close(.shutdown, cancelUpstream: true))
    }

    @Test func aWriteDeadlineLaterThanTheTimerDoesNotMoveIt() {
        var machine = Self.open()
        _ = machine.quiesce(now: Self.t0)
        #expect(machine.writabilityChanged(isWritable: false, now: Self.t0) == .none)
        #expect(machine.timerFiresAt == Self.t0 + .seconds(10))
    }
}
