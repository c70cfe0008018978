/// A real in-process HTTP/1.1 upstream on 127.0.0.1 that records what the gateway sent it.
import Crypto
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// One request as the upstream saw it, after its body was fully read.
struct RecordedRequest: Sendable {
    var method: String
    /// The request target exactly as received (path + query).
    var uri: String
    /// In order and spelling as received.
    var headers: [(name: String, value: String)]
    var bodyLength: Int
    /// Lowercase hex SHA-256 of the body.
    var bodySHA256: String

    /// The first value of `name`, compared case-insensitively.
    func header(_ name: String) -> String? {
        self.headers(name).first
    }

    /// Every value of `name`, compared case-insensitively, in order.
    func headers(_ name: String) -> [String] {
        let wanted = name.lowercased()
        return self.headers.filter { $0.name.lowercased() == wanted }.map(\.value)
    }
}

/// An HTTP/1.1 server with a few scripted endpoints, matched on the last path segment(s) so it
/// answers the same behind any route prefix:
///
/// - `…/download?bytes=N[&chunked=1]`: N bytes, byte i is `UInt8(i % 251)`, written with backpressure.
/// - `…/slow?ms=N` or `…/slow/N`: waits N ms before the response head, then echoes.
/// - `…/die-mid-body`: announces 1 000 000 bytes, sends 1 000, closes.
/// - `…/status/NNN`: status NNN with `{"status": NNN}`.
/// - `…/hop-headers`: hop-by-hop response headers plus `X-End-To-End: kept`, then closes.
/// - `…/expose`: `Access-Control-Expose-Headers: X-Custom`, body `{}`.
/// - `POST …/auth/verify-credentials`: the existing API's credential check (alice/wonderland, bob/builder,
///   user-N/numbered with the integer id N).
/// - anything else: echoes method, target, headers, body length and SHA-256 as JSON.
///
/// Every completed request is recorded, whatever the endpoint.
final class TestUpstream: Sendable {
    let port: Int
    private let group: MultiThreadedEventLoopGroup
    private let serverChannel: any Channel
    private let journal: UpstreamJournal
    private let isShutDown = Mutex(false)

    var baseURL: String { "http://127.0.0.1:\(self.port)" }

    /// TCP connections accepted so far.
    var acceptedConnections: Int { self.journal.acceptedConnections }

    /// Every completed request, in order of completion.
    var requests: [RecordedRequest] { self.journal.requests }

    private init(port: Int, group: MultiThreadedEventLoopGroup, serverChannel: any Channel, journal: UpstreamJournal) {
        self.port = port
        self.group = group
        self.serverChannel = serverChannel
        self.journal = journal
    }

    /// Binds 127.0.0.1:`port` (0 = an ephemeral port) and starts serving.
    static func start(port: Int = 0) async throws -> TestUpstream {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let journal = UpstreamJournal()
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                journal.connectionAccepted()
                do {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(UpstreamHandler(journal: journal))
                    return channel.eventLoop.makeSucceededVoidFuture()
                } catch {
                    return channel.eventLoop.makeFailedFuture(error)
                }
            }
        do {
            let channel = try await bootstrap.bind(host: "127.0.0.1", port: port).get()
            guard let boundPort = channel.localAddress?.port else {
                throw TestUpstreamError.noLocalAddress
            }
            return TestUpstream(port: boundPort, group: group, serverChannel: channel, journal: journal)
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
    }

    /// Stops listening, closes every open connection and stops the event loop thread.
    /// Later calls do nothing: once the loop is gone, a close scheduled on it would never complete.
    func shutdown() async throws {
        let alreadyShutDown = self.isShutDown.withLock { isShutDown in
            defer { isShutDown = true }
            return isShutDown
        }
        guard !alreadyShutDown else { return }
        try? await self.serverChannel.close()
        try await self.group.shutdownGracefully()
    }
}

enum TestUpstreamError: Error {
    case noLocalAddress
}

/// What the handlers of all connections report back to the test, behind one lock.
private final class UpstreamJournal: Sendable {
    private struct State {
        var acceptedConnections = 0
        var requests: [RecordedRequest] = []
    }

    private let state = Mutex(State())

    var acceptedConnections: Int { self.state.withLock { $0.acceptedConnections } }
    var requests: [RecordedRequest] { self.state.withLock { $0.requests } }

    func connectionAccepted() {
        self.state.withLock { $0.acceptedConnections += 1 }
    }

    func record(_ request: RecordedRequest) {
        self.state.withLock { $0.requests.append(request) }
    }
}

/// The scripted behaviour a request asked for, decided from its method and target.
private enum UpstreamEndpoint {
    case echo
    case download(bytes: Int, chunked: Bool)
    case slow(milliseconds: Int64)
    case dieMidBody
    case status(Int)
    case hopHeaders
    case expose
    case verifyCredentials
    case badRequest(String)

    init(method: HTTPMethod, uri: String) {
        let pathAndQuery = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let path = pathAndQuery.first.map(String.init) ?? ""
        let query = Self.parseQuery(pathAndQuery.count > 1 ? String(pathAndQuery[1]) : "")
        let segments = path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        let last = segments.last ?? ""
        let secondLast = segments.count >= 2 ? segments[segments.count - 2] : ""

        switch (secondLast, last) {
        case (_, "download"):
            guard let raw = query["bytes"], let bytes = Int(raw), bytes >= 0 else {
                self = .badRequest("download needs ?bytes=N")
                return
            }
            self = .download(bytes: bytes, chunked: query["chunked"] == "1")
        case (_, "slow"):
            guard let raw = query["ms"], let ms = Int64(raw), ms >= 0 else {
                self = .badRequest("slow needs ?ms=N")
                return
            }
            self = .slow(milliseconds: ms)
        case ("slow", let ms) where Int64(ms) != nil:
            // The same without a query, for URLs that cannot carry one (`auth.verify_url`).
            self = .slow(milliseconds: Int64(ms)!)
        case (_, "die-mid-body"):
            self = .dieMidBody
        case ("status", let code):
            guard let status = Int(code), (200..<600).contains(status) else {
                self = .badRequest("status must be 200...599")
                return
            }
            self = .status(status)
        case (_, "hop-headers"):
            self = .hopHeaders
        case (_, "expose"):
            self = .expose
        case ("auth", "verify-credentials") where method == .POST:
            self = .verifyCredentials
        default:
            self = .echo
        }
    }

    private static func parseQuery(_ query: String) -> [String: String] {
        var items: [String: String] = [:]
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(parts[0]).removingPercentEncoding ?? String(parts[0])
            let value = parts.count > 1 ? (String(parts[1]).removingPercentEncoding ?? String(parts[1])) : ""
            if items[name] == nil {
                items[name] = value
            }
        }
        return items
    }
}

/// The bytes of `/download`, 64 KiB plus one period ahead so any offset can be served as a slice.
private let downloadPieceSize = 64 * 1024
private let downloadPattern: ByteBuffer = {
    var buffer = ByteBufferAllocator().buffer(capacity: downloadPieceSize + 251)
    for index in 0..<(downloadPieceSize + 251) {
        buffer.writeInteger(UInt8(index % 251))
    }
    return buffer
}()

/// Serves one connection. The pipelining handler in front of it hands over one request at a time,
/// so at most one request is in flight here.
private final class UpstreamHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    /// Only the credential check looks at the body; everything else just hashes and counts it.
    private static let maxCollectedBody = 1024 * 1024

    private struct InFlight {
        var head: HTTPRequestHead
        var endpoint: UpstreamEndpoint
        var hasher = SHA256()
        var bodyLength = 0
        var collected: ByteBuffer?
    }

    private let journal: UpstreamJournal
    private var inFlight: InFlight?

    init(journal: UpstreamJournal) {
        self.journal = journal
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .head(let head):
            let endpoint = UpstreamEndpoint(method: head.method, uri: head.uri)
            var request = InFlight(head: head, endpoint: endpoint)
            if case .verifyCredentials = endpoint {
                request.collected = context.channel.allocator.buffer(capacity: 256)
            }
            self.inFlight = request
            if head.headers[canonicalForm: "expect"].contains(where: { $0.lowercased() == "100-continue" }) {
                // libcurl otherwise waits a second before it sends a large body.
                let interim = HTTPResponseHead(version: head.version, status: .continue)
                context.writeAndFlush(self.wrapOutboundOut(.head(interim)), promise: nil)
            }
        case .body(var buffer):
            guard var request = self.inFlight else { return }
            request.bodyLength += buffer.readableBytes
            buffer.withUnsafeReadableBytes { request.hasher.update(bufferPointer: $0) }
            if var collected = request.collected {
                if collected.readableBytes + buffer.readableBytes <= Self.maxCollectedBody {
                    collected.writeBuffer(&buffer)
                }
                request.collected = collected
            }
            self.inFlight = request
        case .end:
            guard let request = self.inFlight else { return }
            self.inFlight = nil
            let recorded = RecordedRequest(
                method: request.head.method.rawValue,
                uri: request.head.uri,
                headers: request.head.headers.map { (name: $0.name, value: $0.value) },
                bodyLength: request.bodyLength,
                bodySHA256: request.hasher.finalize().map { byte in
                    let hex = String(byte, radix: 16)
                    return byte < 16 ? "0" + hex : hex
                }.joined()
            )
            self.journal.record(recorded)
            self.respond(context: context, to: request, recorded: recorded)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    // MARK: - Responses

    private func respond(context: ChannelHandlerContext, to request: InFlight, recorded: RecordedRequest) {
        let keepAlive = request.head.isKeepAlive
        let version = request.head.version
        let isHead = request.head.method == .HEAD

        switch request.endpoint {
        case .echo:
            self.sendJSON(context: context, version: version, keepAlive: keepAlive, isHead: isHead, status: .ok, body: Self.echoBody(recorded))

        case .slow(let milliseconds):
            context.eventLoop.assumeIsolated().scheduleTask(in: .milliseconds(milliseconds)) {
                guard context.channel.isActive else { return }
                self.sendJSON(context: context, version: version, keepAlive: keepAlive, isHead: isHead, status: .ok, body: Self.echoBody(recorded))
            }

        case .download(let bytes, let chunked):
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "application/octet-stream")
            if chunked {
                headers.add(name: "Transfer-Encoding", value: "chunked")
            } else {
                headers.add(name: "Content-Length", value: String(bytes))
            }
            let head = HTTPResponseHead(version: version, status: .ok, headers: headers)
            context.write(self.wrapOutboundOut(.head(head)), promise: nil)
            self.writeDownload(context: context, offset: 0, total: isHead ? 0 : bytes, keepAlive: keepAlive)

        case .dieMidBody:
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "application/octet-stream")
            headers.add(name: "Content-Length", value: "1000000")
            let head = HTTPResponseHead(version: version, status: .ok, headers: headers)
            context.write(self.wrapOutboundOut(.head(head)), promise: nil)
            let piece = downloadPattern.getSlice(at: 0, length: 1000)!
            if !isHead {
                context.write(self.wrapOutboundOut(.body(.byteBuffer(piece))), promise: nil)
            }
            context.flush()
            context.close(promise: nil)

        case .status(let code):
            self.sendJSON(
                context: context, version: version, keepAlive: keepAlive, isHead: isHead,
                status: HTTPResponseStatus(statusCode: code), body: #"{"status": \#(code)}"#
            )

        case .hopHeaders:
            var headers = HTTPHeaders()
            headers.add(name: "Connection", value: "close, X-Hop")
            headers.add(name: "X-Hop", value: "1")
            headers.add(name: "Keep-Alive", value: "timeout=5")
            headers.add(name: "Proxy-Authenticate", value: "x")
            headers.add(name: "Upgrade", value: "foo")
            headers.add(name: "X-End-To-End", value: "kept")
            headers.add(name: "Content-Type", value: "text/plain")
            self.send(context: context, version: version, keepAlive: false, isHead: isHead, status: .ok, headers: headers, body: "ok")

        case .expose:
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "application/json")
            headers.add(name: "Access-Control-Expose-Headers", value: "X-Custom")
            self.send(context: context, version: version, keepAlive: keepAlive, isHead: isHead, status: .ok, headers: headers, body: "{}")

        case .verifyCredentials:
            let (status, body) = Self.verifyCredentials(request.collected ?? ByteBuffer())
            self.sendJSON(context: context, version: version, keepAlive: keepAlive, isHead: isHead, status: status, body: body)

        case .badRequest(let detail):
            self.sendJSON(
                context: context, version: version, keepAlive: keepAlive, isHead: isHead,
                status: .badRequest, body: Self.jsonString(["detail": detail])
            )
        }
    }

    /// Writes the next 64 KiB only once the previous piece has reached the socket, so a slow reader
    /// holds back the writer and memory stays flat whatever the size.
    private func writeDownload(context: ChannelHandlerContext, offset: Int, total: Int, keepAlive: Bool) {
        guard offset < total else {
            self.finish(context: context, keepAlive: keepAlive)
            return
        }
        let length = min(downloadPieceSize, total - offset)
        let piece = downloadPattern.getSlice(at: offset % 251, length: length)!
        context.writeAndFlush(self.wrapOutboundOut(.body(.byteBuffer(piece))))
            .assumeIsolated()
            .whenComplete { result in
                switch result {
                case .success:
                    // Hop through the loop so a run of writes that complete at once can't nest deeply.
                    context.eventLoop.assumeIsolated().execute {
                        self.writeDownload(context: context, offset: offset + length, total: total, keepAlive: keepAlive)
                    }
                case .failure:
                    context.close(promise: nil)
                }
            }
    }

    private func sendJSON(
        context: ChannelHandlerContext, version: HTTPVersion, keepAlive: Bool, isHead: Bool,
        status: HTTPResponseStatus, body: String
    ) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        self.send(context: context, version: version, keepAlive: keepAlive, isHead: isHead, status: status, headers: headers, body: body)
    }

    private func send(
        context: ChannelHandlerContext, version: HTTPVersion, keepAlive: Bool, isHead: Bool,
        status: HTTPResponseStatus, headers: HTTPHeaders, body: String
    ) {
        var headers = headers
        let bodyBuffer = context.channel.allocator.buffer(string: body)
        headers.replaceOrAdd(name: "Content-Length", value: String(bodyBuffer.readableBytes))
        context.write(self.wrapOutboundOut(.head(HTTPResponseHead(version: version, status: status, headers: headers))), promise: nil)
        if !isHead && status.mayHaveResponseBody {
            context.write(self.wrapOutboundOut(.body(.byteBuffer(bodyBuffer))), promise: nil)
        }
        self.finish(context: context, keepAlive: keepAlive)
    }

    private func finish(context: ChannelHandlerContext, keepAlive: Bool) {
        let written = context.writeAndFlush(self.wrapOutboundOut(.end(nil)))
        if !keepAlive {
            written.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
    }

    // MARK: - Bodies

    private static func echoBody(_ request: RecordedRequest) -> String {
        let object: [String: Any] = [
            "method": request.method,
            "uri": request.uri,
            "headers": request.headers.map { [$0.name, $0.value] },
            "bodyLength": request.bodyLength,
            "bodySHA256": request.bodySHA256,
        ]
        return self.jsonString(object)
    }

    private static func verifyCredentials(_ body: ByteBuffer) -> (HTTPResponseStatus, String) {
        let bytes = Data(body.readableBytesView)
        guard let parsed = try? JSONSerialization.jsonObject(with: bytes) else {
            return (.badRequest, #"{"detail":"bad json"}"#)
        }
        let credentials = parsed as? [String: Any]
        switch (credentials?["username"] as? String, credentials?["password"] as? String) {
        case ("alice", "wonderland"):
            return (.ok, #"{"id": 42, "username": "alice", "role": "admin", "scope": "read write"}"#)
        case ("bob", "builder"):
            return (.ok, #"{"id": "u-7", "username": "bob", "role": "user", "scope": "read"}"#)
        case (let name?, "numbered") where name.hasPrefix("user-") && Int64(name.dropFirst(5)) != nil:
            // A user of a test's own (its sessions are its alone in a shared store): integer id N for user-N.
            return (.ok, #"{"id": \#(name.dropFirst(5)), "username": "\#(name)", "role": "user", "scope": "read"}"#)
        default:
            return (
                .unauthorized,
                #"{"detail": "No active account found with the given credentials", "code": "no_active_account"}"#
            )
        }
    }

    private static func jsonString(_ object: Any) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}
