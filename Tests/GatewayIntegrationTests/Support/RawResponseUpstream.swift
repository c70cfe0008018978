/// An upstream that answers every request with the same bytes, written as given: for responses an HTTP library
/// would refuse to produce (a header name that is not ASCII, say).
import Foundation
import Glibc
import Synchronization

final class RawResponseUpstream: Sendable {
    let port: Int
    private let response: [UInt8]
    private let holdOpen: Duration
    private let stopping = Mutex(false)

    var baseURL: String { "http://127.0.0.1:\(port)" }

    /// `holdOpen`: after writing, keep the connection open (silent) this long before closing: a response that
    /// stalls midway when the bytes announce more than they carry.
    init(response: [UInt8], holdOpen: Duration = .zero) throws {
        let (fd, address) = try loopbackSocket(backlog: 16)
        self.port = Int(UInt16(bigEndian: address.sin_port))
        self.response = response
        self.holdOpen = holdOpen
        acceptConnections(on: fd, until: { [self] in stopping.withLock { $0 } }) { [self] in serve($0) }
    }

    func close() {
        stopping.withLock { $0 = true }
    }

    /// Reads one request head, writes the response, closes (after `holdOpen`).
    private func serve(_ fd: Int32) {
        defer { Glibc.close(fd) }
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        // The head's end may arrive with body bytes after it (a POST): look for it anywhere.
        let headEnd = Array("\r\n\r\n".utf8)
        while !received.indices.contains(where: { received[$0...].starts(with: headEnd) }) {
            let n = read(fd, &chunk, chunk.count)
            guard n > 0 else { return }
            received += chunk[0..<n]
        }
        var written = 0
        while written < response.count {
            let n = response[written...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { return }
            written += n
        }
        if holdOpen > .zero { Thread.sleep(forTimeInterval: Double(holdOpen.components.seconds) + Double(holdOpen.components.attoseconds) / 1e18) }
    }
}
