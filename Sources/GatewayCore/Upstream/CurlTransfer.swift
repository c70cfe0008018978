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
    private var status: HTTPResponseStatus?
    /// The response head's end-to-end fields so far; hop-by-hop ones never get in.
    private var responseFields: [(String, String)] = []
    /// Names the response's Connection header(s) list, dropped once the head is complete.
    private var listedByConnection: [String] = []
    private var headComplete = false
    /// Framing of the response head being read (RFC 9112 §6.3): checked when the head completes.
    private var sawTransferEncoding = false
    private var contentLength: [UInt8]?
    private var conflictingContentLength = false
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
        census.arrived()
        if case .none = request.body { requestFlow.withLock { $0.ended = true } }
    }

    deinit {
        census.departed()
    }

    var currentURL: String { request.urls[targetIndex] }

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

    // MARK: libcurl callbacks (curl thread)

    /// CURLOPT_HEADERFUNCTION: one header line at a time, status line first. Works on the raw bytes:
    /// hop-by-hop fields are recognised and skipped before any String is made. Returns false to abort the
    /// transfer (a head whose framing the client could read differently from us).
    func receivedHeaderLine(_ line: UnsafeRawBufferPointer) -> Bool {
        guard !headComplete else { return true }  // trailers
        var end = line.count
        while end > 0, line[end - 1] == UInt8(ascii: "\n") || line[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        if end == 0 {
            guard let status, status.code >= 200 || status.code == 101 else {
                // end of an interim (1xx) response: the real head follows
                self.status = nil
                startHead()
                return true
            }
            if let violation = CurlTransfer.framingViolation(
                status: status, conflictingContentLength: conflictingContentLength,
                hasContentLength: contentLength != nil, sawTransferEncoding: sawTransferEncoding
            ) {
                protocolViolation = violation
                return false
            }
            headComplete = true
            if sawTransferEncoding && contentLength != nil {
                // RFC 9112 §6.3: Transfer-Encoding overrides Content-Length, which must then be removed; curl
                // decoded the chunks, and the client gets the body framed anew.
                responseFields.removeAll { $0.0.utf8.count == 14 && $0.0.utf8.equalsASCIIIgnoringCase("content-length") }
            }
            if !listedByConnection.isEmpty {
                let listed = listedByConnection
                responseFields.removeAll { HopByHop.isHopByHop($0.0.utf8, listed: listed) }
            }
            outbox.head = UpstreamResponseHead(status: status, headers: HTTPHeaders(responseFields))
            responseFields = []  // the head owns the fields now (no copy when the handler adds to them)
            outboxDirty = true
            return true
        }
        let bytes = UnsafeRawBufferPointer(rebasing: line[0..<end])
        if bytes.starts(with: "HTTP/".utf8) {
            status = CurlTransfer.status(ofStatusLine: bytes)
            startHead()
            return true
        }
        guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")) else { return true }
        let name = UnsafeRawBufferPointer(rebasing: bytes[..<colon])
        var valueStart = colon + 1
        while valueStart < bytes.count, bytes[valueStart].isASCIIBlank { valueStart += 1 }
        let value = UnsafeRawBufferPointer(rebasing: bytes[valueStart...])
        if HopByHop.isFixed(name) {
            if HopByHop.isConnection(name) { HopByHop.collectListed(inConnectionValue: value, into: &listedByConnection) }
            if name.count == 17 && name.equalsASCIIIgnoringCase("transfer-encoding") { sawTransferEncoding = true }
            return true
        }
        // Not a field name (a token, RFC 9110 §5.1): dropped. HTTPHeaders would trap on a non-ASCII one, and a
        // name with spaces or separators is something the client's parser may read differently from ours.
        guard !name.isEmpty, name.allSatisfy(HTTPToken.isTokenByte) else { return true }
        if name.count == 14 && name.equalsASCIIIgnoringCase("content-length") {
            noteContentLength(value)
        }
        // CR or NUL inside a value (curl splits lines at LF) is replaced by SP, as RFC 9110 §5.5 asks: passed on
        // as is, a bare CR ends the line for some clients (response splitting).
        let text = value.contains(where: { $0 == 0x0D || $0 == 0 })
            ? String(decoding: value.map { $0 == 0x0D || $0 == 0 ? UInt8(ascii: " ") : $0 }, as: UTF8.self)
            : String(decoding: value, as: UTF8.self)
        responseFields.append((String(decoding: name, as: UTF8.self), text))
        return true
    }

    private func startHead() {
        responseFields.removeAll(keepingCapacity: true)
        responseFields.reserveCapacity(16)
        listedByConnection.removeAll()
        sawTransferEncoding = false
        contentLength = nil
        conflictingContentLength = false
    }

    /// One Content-Length field (it may itself be a list, RFC 9110 §8.6): every value must be the same digits.
    private func noteContentLength(_ value: UnsafeRawBufferPointer) {
        for part in value.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false) {
            var digits = part[...]
            while let first = digits.first, first.isASCIIBlank { digits = digits.dropFirst() }
            while let last = digits.last, last.isASCIIBlank { digits = digits.dropLast() }
            guard !digits.isEmpty, digits.count <= 18, digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
                conflictingContentLength = true
                return
            }
            if let known = contentLength {
                if !known.elementsEqual(digits) { conflictingContentLength = true }
            } else {
                contentLength = Array(digits)
            }
        }
    }

    /// Why a complete response head must not reach the client, if it must not (RFC 9112 §6.3): a message
    /// whose length the client could read differently from curl desyncs the client's connection.
    static func framingViolation(status: HTTPResponseStatus, conflictingContentLength: Bool, hasContentLength: Bool,
                                 sawTransferEncoding: Bool) -> String? {
        if status.code == 101 {
            // No upgrade was asked for: what follows is another protocol, and no HTTP response.
            return "upstream switched protocols unasked (101)"
        }
        if conflictingContentLength && !sawTransferEncoding {
            return "upstream sent conflicting or invalid Content-Length"
        }
        return nil
    }

    /// "HTTP/1.1 200 OK": the code is the second field; a code outside the standard set keeps its reason phrase.
    static func status(ofStatusLine line: UnsafeRawBufferPointer) -> HTTPResponseStatus {
        let space = UInt8(ascii: " ")
        var codeStart = line.firstIndex(of: space) ?? line.endIndex
        while codeStart < line.endIndex, line[codeStart] == space { codeStart += 1 }
        let codeEnd = line[codeStart...].firstIndex(of: space) ?? line.endIndex
        let digits = line[codeStart..<codeEnd]
        guard (1...18).contains(digits.count), digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            return HTTPResponseStatus(statusCode: 502)
        }
        let code = digits.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
        let status = HTTPResponseStatus(statusCode: code)
        guard case .custom = status else { return status }
        let fields = line.split(separator: space, maxSplits: 2, omittingEmptySubsequences: true)
        return HTTPResponseStatus(statusCode: code, reasonPhrase: fields.count > 2 ? String(decoding: fields[2], as: UTF8.self) : "")
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
