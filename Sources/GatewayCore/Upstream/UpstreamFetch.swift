import NIOCore
import NIOHTTP1

/// A whole (bounded) upstream response, for the gateway's own calls such as `auth.verify_url`.
public struct FetchedResponse: Sendable {
    public var status: HTTPResponseStatus
    public var headers: HTTPHeaders
    public var body: ByteBuffer
}

extension UpstreamClient {
    /// Sends `request` with `body` and collects the response (at most `maxBytes`), failing with
    /// `UpstreamFailure` or `GatewayError.upstreamTimeout` when no head arrives within `timeout`.
    public func fetch(_ request: UpstreamRequest, body: ByteBuffer, on eventLoop: any EventLoop,
                      timeout: TimeAmount, maxBytes: Int = 1 << 20) -> EventLoopFuture<FetchedResponse> {
        eventLoop.flatSubmit {
            let sink = CollectingSink(promise: eventLoop.makePromise(), maxBytes: maxBytes)
            let exchange = self.start(request, on: eventLoop, sink: sink)
            sink.exchange = exchange
            if body.readableBytes > 0 { _ = exchange.sendBody(body) }
            exchange.finishBody()
            let timer = eventLoop.assumeIsolated().scheduleTask(in: timeout) {
                sink.fail(GatewayError.upstreamTimeout)
            }
            return sink.promise.futureResult.always { _ in timer.cancel() }
        }
    }
}

/// Collects one response on the event loop.
private final class CollectingSink: UpstreamResponseSink {
    let promise: EventLoopPromise<FetchedResponse>
    let maxBytes: Int
    var exchange: (any UpstreamExchange)?
    private var head: UpstreamResponseHead?
    private var body = ByteBuffer()
    private var done = false

    init(promise: EventLoopPromise<FetchedResponse>, maxBytes: Int) {
        self.promise = promise
        self.maxBytes = maxBytes
    }

    func upstreamDelivered(_ delivery: UpstreamDelivery) {
        guard !done else { return }
        if let h = delivery.head { head = h }
        if var chunk = delivery.body {
            exchange?.responseBodyWritten(chunk.readableBytes)
            guard body.readableBytes + chunk.readableBytes <= maxBytes else {
                return fail(UpstreamFailure.unavailable("response larger than \(maxBytes) bytes"))
            }
            body.writeBuffer(&chunk)
        }
        switch delivery.end {
        case .success?:
            done = true
            exchange = nil
            if let head {
                promise.succeed(FetchedResponse(status: head.status, headers: head.headers, body: body))
            } else {
                promise.fail(UpstreamFailure.unavailable("no response"))
            }
        case .failure(let failure)?:
            done = true
            exchange = nil
            promise.fail(failure)
        case nil:
            break
        }
    }

    func upstreamWantsMoreRequestBody() {}

    func fail(_ error: any Error) {
        guard !done else { return }
        done = true
        exchange?.cancel()
        exchange = nil
        promise.fail(error)
    }
}
