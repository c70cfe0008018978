import NIOCore
import NIOHTTP1

extension ConnectionStateMachine {
    /// What the handler does in answer to one event. One action per event (a few carry a fixed tail, such as
    /// what follows a response's `.end`), so the hot path builds no arrays.
    enum Action: Equatable {
        case none
        /// Ask the channel for more bytes (a read held back while reading was paused).
        case read
        /// Make the connection's one timer fire at this time (it fires no later than that).
        case scheduleTimer(NIODeadline)
        /// Start the upstream transfer for the current request (the handler builds it from the head).
        case startUpstream(UpstreamStart)
        case sendBodyToUpstream(ByteBuffer)
        case finishUpstreamBody
        /// The gateway's own endpoint has its whole request body: call it.
        case respondFromEndpoint(body: ByteBuffer)
        /// The upstream's response head, with `Connection: close` when the connection ends after it.
        case writeResponseHead(closeConnection: Bool)
        /// A piece of the upstream's response body; flow-controlled pieces give their bytes back to the
        /// transport once written.
        case writeResponseBody(ByteBuffer, flowControlled: Bool)
        /// The upstream's delivery is written: flush, and move the timer (upstream progress is due by then).
        case flush(timer: NIODeadline?)
        /// The upstream's response is complete.
        case writeResponseEnd(ResponseEnd)
        /// The upstream's 101 to a tunnel request: write it and hand the connection to a tunnel (the timer stops).
        /// `quiescing`: shutdown has begun, the tunnel closes `shutdown_timeout` from now.
        case switchProtocols(quiescing: Bool)
        /// A response from one of the gateway's own endpoints, then its end.
        case writeLocalResponse(LocalResponse, keepAlive: Bool, ResponseEnd)
        /// An error answered by the gateway, then its end; a running upstream transfer is cancelled first.
        case writeError(ErrorResponse, cancelUpstream: Bool, ResponseEnd)
        /// The exchange is over without a write (the answer went out before the request's end arrived).
        case becomeIdle(Idle)
        /// The response that ends the connection was flushed before the request was read: half-close, drop
        /// what the client still sends, close at the deadline or when the client closes.
        case halfCloseAndLinger(read: Bool, timer: NIODeadline)
        /// Close the connection now (the timer stops; a running upstream transfer is cancelled).
        case close(CloseReason, cancelUpstream: Bool)
        /// The channel is gone: stop the timer and cancel a running upstream transfer.
        case stop(cancelUpstream: Bool)
    }

    /// What follows writing a response's `.end`.
    enum ResponseEnd: Equatable {
        /// The request body is still arriving (it is read and dropped); the timer moves to this time if set.
        case keepReading(timer: NIODeadline?)
        /// The exchange is over: the connection waits for the next request (queued ones are handled now).
        case becomeIdle(Idle)
        /// The connection ends: flush, then report `responseFlushed` (which closes or lingers). The timer stops.
        case close
    }

    /// Entering the idle state between requests.
    struct Idle: Equatable {
        /// A read held back while reading was paused is passed on.
        var read: Bool
        /// The idle timer, when it has to move.
        var timer: NIODeadline?
    }

    struct UpstreamStart: Equatable {
        /// `Expect: 100-continue` is answered now (only when the request body was not held for a decision).
        var sendContinue: Bool
        /// Body parts held while auth decided, sent right after the start (their backpressure is not checked:
        /// they were bounded while held).
        var heldBody: [ByteBuffer]
        /// The held body was the whole body.
        var finishBody: Bool
        /// Reading resumes (it was paused while the held body grew).
        var read: Bool
        /// The response deadline, when the timer has to move.
        var timer: NIODeadline?
    }

    /// An error answer (status, JSON body and challenge come from `GatewayError`).
    struct ErrorResponse: Equatable {
        var error: GatewayError
        var method: HTTPMethod
        var language: Language
        /// False adds `Connection: close`.
        var keepAlive: Bool
        var headers: HTTPHeaders = [:]
    }

    /// Why the connection closes (for the log; `upstreamBrokeOff` also flushes what was written).
    enum CloseReason: Equatable {
        /// The client closed, sent garbage after a response started, or an I/O error occurred.
        case clientGone
        /// The client half-closed with nothing left to answer, or in the middle of a request.
        case inputClosed
        /// `idle_timeout` between requests.
        case idleTimeout
        /// `idle_timeout` while reading a request body.
        case requestBodyStalled
        /// `send_timeout`: the client read nothing while its socket buffer stayed full.
        case sendTimeout
        /// `read_timeout`: the upstream went silent mid-body.
        case upstreamStalled
        /// The upstream broke off mid-body: never let a truncated body look complete.
        case upstreamBrokeOff
        /// The request body grew past `max_body_bytes` after the response had started.
        case bodyTooLarge
        /// The last response was sent (no keep-alive, or shutting down).
        case done
        /// Graceful shutdown while idle.
        case quiesced
        /// The lingering close is over.
        case lingerOver
    }
}
