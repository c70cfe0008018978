/// A raw HTTP/1.1 client over one blocking POSIX TCP socket, for tests that need byte-level control:
/// arbitrary request bytes, pipelining, keep-alive reuse, seeing the server close, and bodies of any size
/// streamed and hashed without being held in memory.
import Crypto
import Foundation

import Glibc

enum HTTPTestClientError: Error, CustomStringConvertible {
    case connectFailed(port: Int, errno: Int32)
    case timedOut(String)
    case closedBeforeHead(receivedBytes: Int)
    case closedBeforeBodyEnd(receivedBytes: Int, expectedBytes: Int?)
    case malformedResponse(String)
    case sendFailed(errno: Int32, sentBytes: Int)

    var description: String {
        switch self {
        case .connectFailed(let port, let code): "connect to 127.0.0.1:\(port) failed: \(String(cString: strerror(code)))"
        case .timedOut(let what): "timed out waiting for \(what)"
        case .closedBeforeHead(let n): "connection closed before a complete response head (\(n) bytes received)"
        case .closedBeforeBodyEnd(let n, let expected):
            "connection closed after \(n) body bytes" + (expected.map { " of \($0) declared" } ?? " before the last chunk")
        case .malformedResponse(let why): "malformed response: \(why)"
        case .sendFailed(let code, let sent): "send failed after \(sent) bytes: \(String(cString: strerror(code)))"
        }
    }
}

/// A response head as it came on the wire.
struct HTTPTestResponseHead: Sendable {
    var status: Int
    var reason: String
    var version: String
    /// In order and spelling as received.
    var headers: [(name: String, value: String)]

    func header(_ name: String) -> String? { self.headers(name).first }

    func headers(_ name: String) -> [String] {
        let wanted = name.lowercased()
        return headers.filter { $0.name.lowercased() == wanted }.map(\.value)
    }

    func hasHeader(_ name: String) -> Bool { !headers(name).isEmpty }

    var contentLength: Int? { header("content-length").flatMap { Int($0.trimmingCharacters(in: .whitespaces)) } }

    var isChunked: Bool {
        headers("transfer-encoding").contains { $0.lowercased().contains("chunked") }
    }

    /// Whether the server announced it will close the connection after this response.
    var announcesClose: Bool {
        headers("connection").contains { value in
            value.split(separator: ",").contains { $0.trimmingCharacters(in: .whitespaces).lowercased() == "close" }
        }
    }
}

/// A complete response with its body in memory (for small bodies).
struct HTTPTestResponse: Sendable {
    var head: HTTPTestResponseHead
    var body: [UInt8]

    var status: Int { head.status }
    func header(_ name: String) -> String? { head.header(name) }
    func headers(_ name: String) -> [String] { head.headers(name) }
    var bodyText: String { String(decoding: body, as: UTF8.self) }

    /// The body parsed as a JSON object; throws when it is not one.
    func jsonObject() throws -> [String: Any] {
        guard let object = try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else {
            throw HTTPTestClientError.malformedResponse("body is not a JSON object: \(bodyText)")
        }
        return object
    }

    /// The gateway's error `code`, or nil when the body is not a gateway error.
    var errorCode: String? { (try? jsonObject())?["code"] as? String }
    var errorDetail: String? { (try? jsonObject())?["detail"] as? String }
}

/// How a body read ended.
enum BodyEnding: Sendable, Equatable {
    /// The framing said the body was complete (Content-Length reached, last chunk, or close-delimited EOF).
    case complete
    /// The server closed the connection before the framing said the body was complete.
    case truncated
}

/// A body read while hashing it, never held whole.
struct HashedBody: Sendable {
    var length: Int
    var sha256: String
    var ending: BodyEnding
}

/// Builds request bytes exactly as given (no header is added that the caller did not ask for, except
/// `Host` and `Content-Length` through the defaults below).
enum RequestBytes {
    static func make(
        _ method: String, _ target: String, host: String? = "gateway.test",
        headers: [(String, String)] = [], body: [UInt8]? = nil, contentLength: Bool = true
    ) -> [UInt8] {
        var text = "\(method) \(target) HTTP/1.1\r\n"
        if let host { text += "Host: \(host)\r\n" }
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        if let body, contentLength { text += "Content-Length: \(body.count)\r\n" }
        text += "\r\n"
        return Array(text.utf8) + (body ?? [])
    }

    static func make(
        _ method: String, _ target: String, host: String? = "gateway.test",
        headers: [(String, String)] = [], body: String
    ) -> [UInt8] {
        make(method, target, host: host, headers: headers, body: Array(body.utf8))
    }
}

/// One TCP connection to 127.0.0.1. Calls on one connection must not overlap (one task drives it);
/// each blocking operation runs on its own thread so the cooperative pool is never blocked.
final class RawHTTPConnection: @unchecked Sendable {
    let fd: Int32
    /// Bytes received; those before `consumed` were already taken by a parser.
    private var received: [UInt8] = []
    private var consumed = 0
    private var scratch = [UInt8](repeating: 0, count: 256 * 1024)
    private var eof = false
    private var isClosed = false
    let port: Int

    static let defaultTimeout: Duration = .seconds(10)

    /// Wraps an already connected socket (e.g. one accepted by a test server); takes ownership of it.
    init(fd: Int32, port: Int) {
        self.fd = fd
        self.port = port
    }

    deinit { closeSocket() }

    /// For tests of a short idle_timeout: connects and sends `request`, retrying (up to 3 times) when this
    /// test itself was held up between connecting and sending for longer than `idleTimeout` allows — then the
    /// gateway rightly closed the connection as idle, which says nothing about what the test checks.
    /// Returns the connection and when the request's sending began.
    static func connectAndSendPromptly(port: Int, _ request: [UInt8],
                                       idleTimeout: Duration) async throws -> (RawHTTPConnection, sentAt: ContinuousClock.Instant) {
        for attempt in 1...3 {
            let connection = try await connect(port: port)
            let sending = ContinuousClock.now
            try await connection.send(request)
            if ContinuousClock.now - sending < idleTimeout / 2 || attempt == 3 { return (connection, sending) }
            connection.close()
        }
        preconditionFailure("unreachable")
    }

    /// Connects to 127.0.0.1:`port`; throws `connectFailed` (e.g. ECONNREFUSED) without retrying.
    static func connect(port: Int) async throws -> RawHTTPConnection {
        try await offThread { try connectBlocking(port: port) }
    }

    static func connectBlocking(port: Int) throws -> RawHTTPConnection {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HTTPTestClientError.connectFailed(port: port, errno: errno) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 else {
            let code = errno
            Glibc.close(fd)
            throw HTTPTestClientError.connectFailed(port: port, errno: code)
        }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        return RawHTTPConnection(fd: fd, port: port)
    }

    func close() { closeSocket() }

    private func closeSocket() {
        guard !isClosed else { return }
        isClosed = true
        Glibc.close(fd)
    }

    // MARK: sending

    func send(_ bytes: [UInt8], timeout: Duration = RawHTTPConnection.defaultTimeout) async throws {
        try await offThread { try self.sendBlocking(bytes, deadline: .now + timeout) }
    }

    func send(_ text: String, timeout: Duration = RawHTTPConnection.defaultTimeout) async throws {
        try await send(Array(text.utf8), timeout: timeout)
    }

    /// Sends `bytes`, one byte per `interval`, giving up (without error) as soon as the server closes.
    /// Returns how many bytes went out.
    func trickle(_ bytes: [UInt8], interval: Duration) async -> Int {
        var sent = 0
        for byte in bytes {
            do { try await send([byte]) } catch { return sent }
            sent += 1
            try? await Task.sleep(for: interval)
        }
        return sent
    }

    func sendBlocking(_ bytes: [UInt8], deadline: ContinuousClock.Instant) throws {
        try bytes.withUnsafeBytes { try sendBlocking($0, deadline: deadline) }
    }

    func sendBlocking(_ bytes: UnsafeRawBufferPointer, deadline: ContinuousClock.Instant) throws {
        var offset = 0
        while offset < bytes.count {
            try waitFor(events: Int16(POLLOUT), deadline: deadline, what: "the socket to accept more bytes")
            let n = Glibc.send(fd, bytes.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
            if n < 0 {
                if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR { continue }
                throw HTTPTestClientError.sendFailed(errno: errno, sentBytes: offset)
            }
            offset += n
        }
    }

    /// Streams `count` pattern bytes (byte i = i % 251, as TestUpstream's download) as the request body,
    /// hashing what was sent. With `chunked`, frames them as chunks of `chunkSize`.
    /// With `stopWhenAnswered`, stops early (no error) once the server has sent anything or closed.
    /// Returns the bytes sent and their SHA-256.
    func sendPatternBody(
        count: Int, chunked: Bool = false, chunkSize: Int = 64 * 1024, stopWhenAnswered: Bool = false,
        timeout: Duration = .seconds(120)
    ) async throws -> (sent: Int, sha256: String) {
        try await offThread {
            let deadline = ContinuousClock.now + timeout
            var hasher = SHA256()
            var sent = 0
            while sent < count {
                if stopWhenAnswered, self.hasInput() { break }
                let length = min(chunkSize, count - sent)
                let piece = PatternBytes.slice(offset: sent, length: length)
                do {
                    if chunked {
                        try self.sendBlocking(Array((String(length, radix: 16) + "\r\n").utf8), deadline: deadline)
                    }
                    try piece.withUnsafeBytes { try self.sendBlocking($0, deadline: deadline) }
                    if chunked { try self.sendBlocking(Array("\r\n".utf8), deadline: deadline) }
                } catch HTTPTestClientError.sendFailed where stopWhenAnswered {
                    break
                }
                piece.withUnsafeBytes { hasher.update(bufferPointer: $0) }
                sent += length
            }
            if chunked && sent == count {
                try self.sendBlocking(Array("0\r\n\r\n".utf8), deadline: deadline)
            }
            return (sent, hasher.finalize().hexString)
        }
    }

    // MARK: receiving

    /// Reads one response with its body. `method` tells whether a body follows (HEAD has none).
    /// Interim 1xx responses are skipped. Throws when the body is cut short.
    func readResponse(method: String = "GET", timeout: Duration = RawHTTPConnection.defaultTimeout) async throws -> HTTPTestResponse {
        try await offThread {
            let deadline = ContinuousClock.now + timeout
            let head = try self.readHeadBlocking(deadline: deadline)
            var body: [UInt8] = []
            let ending = try self.readBodyBlocking(head: head, method: method, deadline: deadline) { body.append(contentsOf: $0) }
            if ending == .truncated {
                throw HTTPTestClientError.closedBeforeBodyEnd(receivedBytes: body.count, expectedBytes: head.contentLength)
            }
            return HTTPTestResponse(head: head, body: body)
        }
    }

    /// Reads a response head, skipping interim 1xx responses unless `skipInterim` is false.
    func readHead(skipInterim: Bool = true, timeout: Duration = RawHTTPConnection.defaultTimeout) async throws -> HTTPTestResponseHead {
        try await offThread {
            skipInterim ? try self.readHeadBlocking(deadline: .now + timeout) : try self.readOneHeadBlocking(deadline: .now + timeout)
        }
    }

    /// Reads the body that follows `head`, hashing it; optionally pauses `pause` after `pauseAfter` bytes
    /// (a slow reader, so the server must hold back). Never throws for a short body: reports `.truncated`.
    func readHashedBody(
        head: HTTPTestResponseHead, method: String = "GET", pauseAfter: Int? = nil, pause: Duration = .zero,
        timeout: Duration = .seconds(120)
    ) async throws -> HashedBody {
        try await offThread {
            let deadline = ContinuousClock.now + timeout
            var hasher = SHA256()
            var length = 0
            var paused = pauseAfter == nil
            let ending = try self.readBodyBlocking(head: head, method: method, deadline: deadline) { bytes in
                bytes.withUnsafeBytes { hasher.update(bufferPointer: $0) }
                length += bytes.count
                if !paused, let pauseAfter, length >= pauseAfter {
                    paused = true
                    Thread.sleep(forTimeInterval: pause.seconds)
                }
            }
            return HashedBody(length: length, sha256: hasher.finalize().hexString, ending: ending)
        }
    }

    /// Reads the body after `head` into memory, reporting how it ended instead of throwing for a short body.
    func readBody(head: HTTPTestResponseHead, method: String = "GET", timeout: Duration = RawHTTPConnection.defaultTimeout)
        async throws -> (body: [UInt8], ending: BodyEnding)
    {
        try await offThread {
            var body: [UInt8] = []
            let ending = try self.readBodyBlocking(head: head, method: method, deadline: .now + timeout) { body.append(contentsOf: $0) }
            return (body, ending)
        }
    }

    /// Waits until the server closes the connection (EOF or reset). Returns false when it is still open after
    /// `timeout`. Bytes that arrive meanwhile are kept (see `unreadBytes`).
    func waitForPeerClose(timeout: Duration = RawHTTPConnection.defaultTimeout) async -> Bool {
        (try? await offThread { () -> Bool in
            let deadline = ContinuousClock.now + timeout
            while !self.eof {
                do {
                    _ = try self.receiveMore(deadline: deadline)
                } catch {
                    return false
                }
            }
            return true
        }) ?? false
    }

    /// Everything received and not consumed by a parser.
    var unreadBytes: [UInt8] { Array(pending) }

    private var pending: ArraySlice<UInt8> { received[consumed...] }

    private func consume(_ count: Int) {
        consumed += count
        if consumed == received.count {
            received.removeAll(keepingCapacity: true)
            consumed = 0
        }
    }

    /// Whether input (data or EOF) is waiting right now.
    private func hasInput() -> Bool {
        if !pending.isEmpty || eof { return true }
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&descriptor, 1, 0) > 0
    }

    private func waitFor(events: Int16, deadline: ContinuousClock.Instant, what: String) throws {
        while true {
            // Poll before judging the deadline: a thread starved past it (2 busy cores, a whole suite in
            // parallel) must still see what arrived meanwhile rather than report a timeout.
            let remaining = deadline - .now
            var descriptor = pollfd(fd: fd, events: events, revents: 0)
            let milliseconds = remaining > .zero ? Int32(min(max(remaining.milliseconds, 1), 1_000)) : 0
            let n = poll(&descriptor, 1, milliseconds)
            if n > 0 { return }
            if n < 0 && errno != EINTR { throw HTTPTestClientError.timedOut(what + " (poll errno \(errno))") }
            if remaining <= .zero { throw HTTPTestClientError.timedOut(what) }
        }
    }

    /// Reads what is available into `pending`; returns the count, 0 at EOF (a reset counts as EOF).
    @discardableResult
    private func receiveMore(deadline: ContinuousClock.Instant) throws -> Int {
        if eof { return 0 }
        try waitFor(events: Int16(POLLIN), deadline: deadline, what: "data from the server")
        let n = scratch.withUnsafeMutableBytes { Glibc.recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
        if n > 0 {
            if consumed > 0 && consumed >= received.count / 2 {
                received.removeFirst(consumed)
                consumed = 0
            }
            received.append(contentsOf: scratch[0..<n])
            return n
        }
        if n == 0 || errno == ECONNRESET || errno == EPIPE {
            eof = true
            return 0
        }
        if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR { return try receiveMore(deadline: deadline) }
        eof = true
        return 0
    }

    func readHeadBlocking(deadline: ContinuousClock.Instant) throws -> HTTPTestResponseHead {
        while true {
            let head = try readOneHeadBlocking(deadline: deadline)
            // 101 switches protocols; other 1xx are interim and followed by the real response.
            if head.status >= 100 && head.status < 200 && head.status != 101 { continue }
            return head
        }
    }

    private func readOneHeadBlocking(deadline: ContinuousClock.Instant) throws -> HTTPTestResponseHead {
        try Self.parseHead(readHeadBytesBlocking(deadline: deadline))
    }

    /// Reads a request head (for a server written with this type): method, target and the head as a
    /// response-shaped value whose `headers` and framing helpers apply to the request body.
    func readRequestHeadBlocking(deadline: ContinuousClock.Instant) throws -> (method: String, target: String, head: HTTPTestResponseHead) {
        let bytes = try readHeadBytesBlocking(deadline: deadline)
        let text = String(decoding: bytes, as: UTF8.self)
        let firstLineEnd = text.range(of: "\r\n")?.lowerBound ?? text.endIndex
        let requestLine = text[..<firstLineEnd].split(separator: " ")
        guard requestLine.count == 3 else {
            throw HTTPTestClientError.malformedResponse("request line \(String(text[..<firstLineEnd]).debugDescription)")
        }
        // Reuse the header parser with a synthetic status line.
        let head = try Self.parseHead(Array(("HTTP/1.1 200 OK" + text[firstLineEnd...]).utf8))
        return (String(requestLine[0]), String(requestLine[1]), head)
    }

    private func readHeadBytesBlocking(deadline: ContinuousClock.Instant) throws -> [UInt8] {
        let terminator: [UInt8] = [13, 10, 13, 10]
        var searchFrom = 0
        while true {
            let bytes = pending
            if bytes.count >= 4 {
                var index = bytes.startIndex + max(0, searchFrom - 3)
                while index + 4 <= bytes.endIndex {
                    if bytes[index] == 13 && bytes[index + 1] == 10 && bytes[index + 2] == 13 && bytes[index + 3] == 10 {
                        let headBytes = Array(bytes[bytes.startIndex..<index])
                        consume(index - bytes.startIndex + terminator.count)
                        return headBytes
                    }
                    index += 1
                }
                searchFrom = bytes.count
            }
            if try receiveMore(deadline: deadline) == 0 {
                throw HTTPTestClientError.closedBeforeHead(receivedBytes: pending.count)
            }
        }
    }

    private static func parseHead(_ bytes: [UInt8]) throws -> HTTPTestResponseHead {
        let text = String(decoding: bytes, as: UTF8.self)
        var lines = text.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst()
        let parts = statusLine.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/"), let status = Int(parts[1]) else {
            throw HTTPTestClientError.malformedResponse("status line \(statusLine.debugDescription)")
        }
        var headers: [(name: String, value: String)] = []
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else {
                throw HTTPTestClientError.malformedResponse("header line \(line.debugDescription)")
            }
            headers.append((String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        return HTTPTestResponseHead(
            status: status, reason: parts.count > 2 ? String(parts[2]) : "", version: String(parts[0]), headers: headers
        )
    }

    /// Delivers the body after `head` to `sink` piece by piece, following RFC 9112 §6.3 framing.
    func readBodyBlocking(
        head: HTTPTestResponseHead, method: String, deadline: ContinuousClock.Instant, sink: (ArraySlice<UInt8>) -> Void
    ) throws -> BodyEnding {
        if method == "HEAD" || head.status == 204 || head.status == 304 || (100..<200).contains(head.status) {
            return .complete
        }
        if head.isChunked {
            return try readChunkedBlocking(deadline: deadline, sink: sink)
        }
        if let length = head.contentLength {
            var remaining = length
            while remaining > 0 {
                if pending.isEmpty, try receiveMore(deadline: deadline) == 0 { return .truncated }
                let take = min(remaining, pending.count)
                sink(pending.prefix(take))
                consume(take)
                remaining -= take
            }
            return .complete
        }
        // Close-delimited.
        while true {
            if !pending.isEmpty {
                sink(pending)
                consume(pending.count)
            }
            if try receiveMore(deadline: deadline) == 0 { return .complete }
        }
    }

    private func readLineBlocking(deadline: ContinuousClock.Instant) throws -> String? {
        while true {
            let bytes = pending
            if let index = bytes.firstIndex(of: 10) {
                var line = Array(bytes[bytes.startIndex..<index])
                consume(index - bytes.startIndex + 1)
                if line.last == 13 { line.removeLast() }
                return String(decoding: line, as: UTF8.self)
            }
            if try receiveMore(deadline: deadline) == 0 { return nil }
        }
    }

    private func readChunkedBlocking(deadline: ContinuousClock.Instant, sink: (ArraySlice<UInt8>) -> Void) throws -> BodyEnding {
        while true {
            guard let sizeLine = try readLineBlocking(deadline: deadline) else { return .truncated }
            let sizeText = sizeLine.split(separator: ";", maxSplits: 1).first.map(String.init) ?? ""
            guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16) else {
                throw HTTPTestClientError.malformedResponse("chunk size line \(sizeLine.debugDescription)")
            }
            if size == 0 {
                // Trailers, then the empty line.
                while true {
                    guard let line = try readLineBlocking(deadline: deadline) else { return .truncated }
                    if line.isEmpty { return .complete }
                }
            }
            var remaining = size
            while remaining > 0 {
                if pending.isEmpty, try receiveMore(deadline: deadline) == 0 { return .truncated }
                let take = min(remaining, pending.count)
                sink(pending.prefix(take))
                consume(take)
                remaining -= take
            }
            guard let end = try readLineBlocking(deadline: deadline) else { return .truncated }
            guard end.isEmpty else { throw HTTPTestClientError.malformedResponse("chunk not followed by CRLF") }
        }
    }
}

/// One-shot conveniences over `RawHTTPConnection`.
enum HTTPTestClient {
    /// Opens a connection, sends `request`, reads one response, closes.
    static func exchange(_ request: [UInt8], port: Int, method: String? = nil, timeout: Duration = RawHTTPConnection.defaultTimeout)
        async throws -> HTTPTestResponse
    {
        let connection = try await RawHTTPConnection.connect(port: port)
        defer { connection.close() }
        try await connection.send(request)
        let sentMethod = method ?? String(decoding: request.prefix { $0 != UInt8(ascii: " ") }, as: UTF8.self)
        return try await connection.readResponse(method: sentMethod, timeout: timeout)
    }

    static func get(_ target: String, port: Int, headers: [(String, String)] = []) async throws -> HTTPTestResponse {
        try await exchange(RequestBytes.make("GET", target, headers: headers), port: port)
    }
}

/// The byte pattern TestUpstream's `/download` serves (byte i = i % 251), for hashing without storing.
enum PatternBytes {
    private static let period = 251
    private static let block: [UInt8] = (0..<(256 * 1024 + 251)).map { UInt8($0 % 251) }

    /// `length` bytes of the pattern starting at `offset`; `length` is at most 256 KiB.
    static func slice(offset: Int, length: Int) -> ArraySlice<UInt8> {
        precondition(length <= 256 * 1024)
        let start = offset % period
        return block[start..<(start + length)]
    }

    /// SHA-256 (hex) of the first `count` pattern bytes.
    static func sha256(count: Int) -> String {
        var hasher = SHA256()
        var offset = 0
        while offset < count {
            let length = min(256 * 1024, count - offset)
            slice(offset: offset, length: length).withUnsafeBytes { hasher.update(bufferPointer: $0) }
            offset += length
        }
        return hasher.finalize().hexString
    }

    /// SHA-256 (hex) of arbitrary bytes.
    static func sha256<Bytes: Sequence>(of bytes: Bytes) -> String where Bytes.Element == UInt8 {
        var hasher = SHA256()
        hasher.update(data: Array(bytes))
        return hasher.finalize().hexString
    }
}

extension Sequence where Element == UInt8 {
    var hexString: String {
        map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }
}

extension Duration {
    var seconds: Double {
        let (s, atto) = components
        return Double(s) + Double(atto) / 1e18
    }

    var milliseconds: Int64 {
        let (s, atto) = components
        return s * 1000 + atto / 1_000_000_000_000_000
    }
}

/// Runs blocking work on a fresh thread and resumes the caller with its result.
func offThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
        let thread = Thread {
            continuation.resume(with: Result { try work() })
        }
        thread.stackSize = 4 << 20
        thread.start()
    }
}
