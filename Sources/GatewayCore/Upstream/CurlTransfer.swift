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
    private let sink: NIOLoopBound<any UpstreamResponseSink>

    // Curl thread only.
    var easy: UnsafeMutableRawPointer?
    var headerList: UnsafeMutablePointer<curl_slist>?
    var targetIndex = 0
    var recvPaused = false
    var sendPaused = false
    var isActive = false
    var isTouched = false
    var bytesUploaded: Int64 = 0
    private var status: HTTPResponseStatus?
    private var headers = HTTPHeaders()
    private var headComplete = false
    private var outbox = UpstreamDelivery()
    private var outboxDirty = false

    // Event loop only.
    private var cancelled = false

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

    /// Above this many buffered bytes a direction pauses its producer; it resumes below `lowWater`.
    static let highWater = 512 * 1024
    static let lowWater = 128 * 1024

    init(request: UpstreamRequest, eventLoop: any EventLoop, sink: any UpstreamResponseSink, loop: CurlLoop) {
        self.request = request
        self.eventLoop = eventLoop
        self.sink = NIOLoopBound(sink, eventLoop: eventLoop)
        self.loop = loop
        if case .none = request.body { requestFlow.withLock { $0.ended = true } }
    }

    var currentURL: String { request.urls[targetIndex] }

    // MARK: UpstreamExchange (event loop)

    public func sendBody(_ buffer: ByteBuffer) -> Bool {
        let (wake, keepReading) = requestFlow.withLock { flow -> (Bool, Bool) in
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
        let wake = requestFlow.withLock { flow -> Bool in
            flow.ended = true
            let wake = flow.curlWaiting
            flow.curlWaiting = false
            return wake
        }
        if wake { loop.submit(.resumeSend(self)) }
    }

    public func responseBodyWritten(_ count: Int) {
        let wake = responseFlow.withLock { flow -> Bool in
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
        loop.submit(.cancel(self))
    }

    // MARK: libcurl callbacks (curl thread)

    /// CURLOPT_HEADERFUNCTION: one header line at a time, status line first.
    func receivedHeaderLine(_ line: UnsafeRawBufferPointer) {
        guard !headComplete else { return }  // trailers
        var end = line.count
        while end > 0, line[end - 1] == UInt8(ascii: "\n") || line[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        if end == 0 {
            guard let status, status.code >= 200 else {
                // end of an interim (1xx) response: the real head follows
                self.status = nil
                headers = HTTPHeaders()
                return
            }
            headComplete = true
            HopByHop.removeHopByHop(from: &headers)
            outbox.head = UpstreamResponseHead(status: status, headers: headers)
            outboxDirty = true
            return
        }
        let bytes = UnsafeRawBufferPointer(rebasing: line[0..<end])
        if bytes.starts(with: "HTTP/".utf8) {
            // "HTTP/1.1 200 OK": the code is the second field
            let fields = bytes.split(separator: UInt8(ascii: " "), maxSplits: 2, omittingEmptySubsequences: true)
            let code = fields.count > 1 ? Int(String(decoding: fields[1], as: UTF8.self)) ?? 502 : 502
            let reason = fields.count > 2 ? String(decoding: fields[2], as: UTF8.self) : ""
            status = HTTPResponseStatus(statusCode: code, reasonPhrase: reason)
            headers = HTTPHeaders()
            return
        }
        guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")) else { return }
        let name = String(decoding: bytes[..<colon], as: UTF8.self)
        var valueStart = colon + 1
        while valueStart < bytes.count, bytes[valueStart] == UInt8(ascii: " ") || bytes[valueStart] == UInt8(ascii: "\t") {
            valueStart += 1
        }
        headers.add(name: name, value: String(decoding: bytes[valueStart...], as: UTF8.self))
    }

    static let writePause = Int(CURL_WRITEFUNC_PAUSE)
    static let readPause = Int(CURL_READFUNC_PAUSE)

    /// CURLOPT_WRITEFUNCTION: response body bytes. Returns the count taken, or pause.
    func receivedBody(_ data: UnsafeRawBufferPointer) -> Int {
        let accepted = responseFlow.withLock { flow -> Bool in
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

    /// CURLOPT_READFUNCTION: request body bytes into `target`. Returns the count, 0 at the end, or pause.
    func fillRequestBody(_ target: UnsafeMutableRawBufferPointer) -> Int {
        var resumeClient = false
        let result = requestFlow.withLock { flow -> Int in
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
            let sink = self.sink
            eventLoop.execute { sink.value.upstreamWantsMoreRequestBody() }
        }
        return result
    }

    /// Whether nothing of the request has been consumed, so another target may be tried.
    var canFailOver: Bool {
        !headComplete && bytesUploaded == 0 && targetIndex + 1 < request.urls.count
    }

    func finish(_ result: Result<Void, UpstreamFailure>) {
        if case .failure(.unavailable(let reason)) = result, headComplete {
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
        let sink = self.sink
        eventLoop.execute { [self] in
            guard !cancelled else { return }
            if delivery.end != nil { cancelled = true }
            sink.value.upstreamDelivered(delivery)
        }
    }
}
