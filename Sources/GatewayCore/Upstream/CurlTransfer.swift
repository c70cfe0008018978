import CCurl
import NIOCore
import NIOHTTP1
import Synchronization

/// One upstream exchange over libcurl. Fields are split by owner: the curl thread's, the event loop's,
/// and the two small flow-control states that both touch, each behind its own lock.
public final class CurlTransfer: UpstreamExchange, @unchecked Sendable {
    // Immutable.
    let request: UpstreamRequest
    let eventLoop: any EventLoop
    unowned let loop: CurlLoop
    private let census: Census

    // Curl thread only.
    /// The easy handle (with its header list storage) lent to this transfer while curl runs it.
    var handle: CurlEasy.Handle?
    var isActive: Bool { handle != nil }
    var targetIndex = 0
    var recvPaused = false
    var sendPaused = false
    var isTouched = false
    var bytesUploaded: Int64 = 0
    /// The response head as curl hands it over (hop-by-hop fields never get in).
    private var head: ResponseHeadReader
    /// The response head went to the event loop.
    private(set) var headComplete = false
    /// A tunnel's connection once curl has connected it (`request.upgrade`; CurlLoop+Tunnels.swift).
    var tunnel: TunnelIO?
    /// Set when the upstream broke HTTP's framing rules: the transfer is aborted and the client gets 502.
    private var protocolViolation: String?
    private var outbox = UpstreamDelivery()
    private var outboxDirty = false

    // Event loop only.
    private var cancelled = false
    /// Released when the exchange ends or is cancelled: the sink (a connection handler, or the collector of a
    /// fetch) usually holds this transfer too, and the cycle must not outlive the exchange.
    private var sink: (any UpstreamResponseSink)?

    // Shared: request body flow (loop produces, curl consumes).
    private struct RequestFlow {
        var chunks: CircularBuffer<ByteBuffer> = []
        var buffered = 0
        var ended = false
        var curlWaiting = false
        var clientReadPaused = false
    }
    private let requestFlow = Mutex(RequestFlow())

    // Shared: response body flow (curl produces, loop consumes).
    private struct ResponseFlow {
        var outstanding = 0
        var curlWaiting = false
    }
    private let responseFlow = Mutex(ResponseFlow())
    /// Where ThreadSanitizer is told about the two locks' hand-offs (see `Mutex.withLockTSan`): inside this object.
    private var requestFlowKey: UnsafeRawPointer { UnsafeRawPointer(Unmanaged.passUnretained(self).toOpaque()) }
    private var responseFlowKey: UnsafeRawPointer { requestFlowKey + 1 }

    /// Above this many buffered bytes a direction pauses its producer; it resumes below `lowWater`.
    static let highWater = 512 * 1024
    static let lowWater = 128 * 1024

    init(request: UpstreamRequest, eventLoop: any EventLoop, sink: any UpstreamResponseSink, loop: CurlLoop, census: Census) {
        self.request = request
        self.eventLoop = eventLoop
        self.sink = sink
        self.loop = loop
        self.census = census
        self.head = ResponseHeadReader()
        census.arrived()
        // A tunnel's request body is what the client sends after the 101: it ends when the client does.
        if case .none = request.body, request.upgrade == nil { requestFlow.withLock { $0.ended = true } }
    }

    deinit {
        census.departed()
    }

    var currentURL: String { request.urls[targetIndex] }
    var isTunnel: Bool { request.upgrade != nil }

    // MARK: UpstreamExchange (event loop)

    public func sendBody(_ buffer: ByteBuffer) -> Bool {
        let (wake, keepReading) = requestFlow.withLockTSan(key: requestFlowKey) { flow -> (Bool, Bool) in
            flow.chunks.append(buffer)
            flow.buffered += buffer.readableBytes
            let wake = flow.curlWaiting
            flow.curlWaiting = false
            if flow.buffered > CurlTransfer.highWater { flow.clientReadPaused = true }
            return (wake, !flow.clientReadPaused)
        }
        if wake { loop.submit(.resumeSend(self)) }
        return keepReading
    }

    public func finishBody() {
        let wake = requestFlow.withLockTSan(key: requestFlowKey) { flow -> Bool in
            flow.ended = true
            let wake = flow.curlWaiting
            flow.curlWaiting = false
            return wake
        }
        if wake { loop.submit(.resumeSend(self)) }
    }

    public func responseBodyWritten(_ count: Int) {
        let wake = responseFlow.withLockTSan(key: responseFlowKey) { flow -> Bool in
            flow.outstanding -= count
            guard flow.curlWaiting, flow.outstanding <= CurlTransfer.lowWater else { return false }
            flow.curlWaiting = false
            return true
        }
        if wake { loop.submit(.resumeReceive(self)) }
    }

    public func cancel() {
        guard !cancelled else { return }
        cancelled = true
        sink = nil
        loop.submit(.cancel(self))
    }

    public func handOver(to sink: any UpstreamResponseSink) {
        guard !cancelled else { return }
        self.sink = sink
    }

    // MARK: libcurl callbacks (curl thread)

    /// CURLOPT_HEADERFUNCTION: one header line at a time, status line first (`ResponseHeadReader`). Returns false
    /// to abort the transfer (a head whose framing the client could read differently from us).
    func receivedHeaderLine(_ line: UnsafeRawBufferPointer) -> Bool {
        switch head.read(line) {
        case .more:
            return true
        case .complete(let head):
            headComplete = true
            outbox.head = head
            outboxDirty = true
            return true
        case .violation(let violation):
            protocolViolation = violation
            return false
        }
    }

    static let writePause = Int(CURL_WRITEFUNC_PAUSE)
    static let readPause = Int(CURL_READFUNC_PAUSE)

    /// CURLOPT_WRITEFUNCTION: response body bytes. Returns the count taken, or pause.
    func receivedBody(_ data: UnsafeRawBufferPointer) -> Int {
        guard headComplete else {
            // Body bytes with no head before them: never written to the client (it would read them as a response).
            protocolViolation = "upstream sent body bytes before a response head"
            return 0
        }
        let accepted = responseFlow.withLockTSan(key: responseFlowKey) { flow -> Bool in
            if flow.outstanding >= CurlTransfer.highWater {
                flow.curlWaiting = true
                return false
            }
            flow.outstanding += data.count
            return true
        }
        guard accepted else {
            recvPaused = true
            return CurlTransfer.writePause
        }
        if outbox.body == nil {
            outbox.body = loop.allocator.buffer(capacity: max(data.count, 16 * 1024))
        }
        outbox.body!.writeBytes(data)
        outboxDirty = true
        return data.count
    }

    /// Whether the client has room for more response bytes; when not, `responseBodyWritten` resumes receiving once it
    /// has (a tunnel reads only what its client can take: `receivedBody` cannot give bytes back to a socket).
    func hasResponseRoom() -> Bool {
        responseFlow.withLock { flow in
            if flow.outstanding < CurlTransfer.highWater { return true }
            flow.curlWaiting = true
            return false
        }
    }

    /// Bytes a tunnel read from its connection: the upstream's answer (`UpgradeResponseReader`), then the tunnel's
    /// bytes. Returns true when the exchange is over (an answer other than a 101, complete); throws when the
    /// answer must not reach the client.
    func tunnelReceived(_ bytes: UnsafeRawBufferPointer, reader: inout UpgradeResponseReader) throws(UpgradeResponseReader.Violation) -> Bool {
        do {
            return try reader.read(bytes, onHead: { head in
                headComplete = true
                outbox.head = head
                outboxDirty = true
            }, onBody: { body in
                _ = receivedBody(body)
            })
        } catch {
            protocolViolation = error.reason
            throw error
        }
    }

    /// CURLOPT_READFUNCTION: request body bytes into `target`. Returns the count, 0 at the end, or pause.
    func fillRequestBody(_ target: UnsafeMutableRawBufferPointer) -> Int {
        var resumeClient = false
        let result = requestFlow.withLockTSan(key: requestFlowKey) { flow -> Int in
            var written = 0
            while written < target.count, var chunk = flow.chunks.first {
                let n = min(chunk.readableBytes, target.count - written)
                chunk.withUnsafeReadableBytes { source in
                    UnsafeMutableRawBufferPointer(rebasing: target[written..<written + n])
                        .copyMemory(from: UnsafeRawBufferPointer(rebasing: source[0..<n]))
                }
                chunk.moveReaderIndex(forwardBy: n)
                written += n
                if chunk.readableBytes == 0 {
                    flow.chunks.removeFirst()
                } else {
                    flow.chunks[flow.chunks.startIndex] = chunk
                }
            }
            flow.buffered -= written
            if flow.clientReadPaused && flow.buffered <= CurlTransfer.lowWater {
                flow.clientReadPaused = false
                resumeClient = true
            }
            if written > 0 { return written }
            if flow.ended { return 0 }
            flow.curlWaiting = true
            return CurlTransfer.readPause
        }
        if result == CurlTransfer.readPause {
            sendPaused = true
        } else {
            bytesUploaded += Int64(result)
        }
        if resumeClient {
            eventLoop.execute { [self] in sink?.upstreamWantsMoreRequestBody() }
        }
        return result
    }

    /// Whether nothing of the request has been consumed, so another target may be tried.
    var canFailOver: Bool {
        !headComplete && bytesUploaded == 0 && targetIndex + 1 < request.urls.count
    }

    func finish(_ result: Result<Void, UpstreamFailure>) {
        if let protocolViolation {
            outbox.end = .failure(.unavailable(protocolViolation))
        } else if case .failure(.unavailable(let reason)) = result, headComplete {
            outbox.end = .failure(.brokenAfterHead(reason))
        } else if case .success = result, !headComplete {
            outbox.end = .failure(.unavailable("upstream closed without a response"))
        } else {
            outbox.end = result
        }
        outboxDirty = true
    }

    /// Sends what accumulated since the last flush to the event loop, in one hop.
    func flushOutbox() {
        guard outboxDirty else { return }
        let delivery = outbox
        outbox = UpstreamDelivery()
        outboxDirty = false
        eventLoop.execute { [self] in
            guard !cancelled, let sink else { return }
            if delivery.end != nil {
                cancelled = true
                self.sink = nil
            }
            sink.upstreamDelivered(delivery)
        }
    }
}
