/// An upstream that stops reading a request body for a while before it drains it, so the gateway must
/// hold the client back (request-body backpressure) instead of buffering what the client sends.
import Crypto
import Foundation
import Glibc
import Synchronization

final class StallingUpstream: Sendable {
    /// What the upstream read of one request body.
    struct Received: Sendable {
        var target: String
        var length: Int
        var sha256: String
    }

    let port: Int
    private let stopping = Mutex(false)
    private let journal = Mutex<[Received]>([])
    private let stall: Duration

    var baseURL: String { "http://127.0.0.1:\(port)" }
    var received: [Received] { journal.withLock { $0 } }

    /// Listens on 127.0.0.1 (ephemeral port); each request with a body waits `stall` before its body is read.
    init(stall: Duration) throws {
        let (fd, address) = try loopbackSocket(backlog: 16) { fd in
            var one: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            // A small receive buffer, so a stall is felt quickly rather than absorbed by the kernel.
            var small: Int32 = 64 * 1024
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        }
        self.port = Int(UInt16(bigEndian: address.sin_port))
        self.stall = stall
        let port = self.port
        acceptConnections(on: fd, until: { [self] in stopping.withLock { $0 } }, configure: { client in
            var small: Int32 = 64 * 1024
            setsockopt(client, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        }) { [self] client in serve(RawHTTPConnection(fd: client, port: port)) }
    }

    /// Stops accepting; connections being served end on their own.
    func close() {
        stopping.withLock { $0 = true }
    }

    private func serve(_ connection: RawHTTPConnection) {
        defer { connection.close() }
        while !stopping.withLock({ $0 }) {
            let deadline = ContinuousClock.now + .seconds(120)
            guard let request = try? connection.readRequestHeadBlocking(deadline: deadline) else { return }
            let hasBody = request.head.isChunked || (request.head.contentLength ?? 0) > 0
            if hasBody { Thread.sleep(forTimeInterval: stall.seconds) }
            var hasher = SHA256()
            var length = 0
            // A request without Content-Length or Transfer-Encoding has no body (RFC 9112 §6.3).
            let ending = hasBody
                ? try? connection.readBodyBlocking(head: request.head, method: request.method, deadline: deadline) { piece in
                    piece.withUnsafeBytes { hasher.update(bufferPointer: $0) }
                    length += piece.count
                }
                : .complete
            guard ending == .complete else { return }
            let digest = hasher.finalize().hexString
            journal.withLock { $0.append(Received(target: request.target, length: length, sha256: digest)) }
            let body = #"{"bodyLength":\#(length),"bodySHA256":"\#(digest)"}"#
            let response = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body
            do { try connection.sendBlocking(Array(response.utf8), deadline: deadline) } catch { return }
        }
    }
}
