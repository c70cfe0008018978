/// The ways a client leaves early: a reset, a half-close, reading only part of a body.
import Foundation
import Glibc

extension RawHTTPConnection {
    /// Closes with SO_LINGER 0: the peer gets RST, as when a browser cancels a download.
    func reset() {
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        close()
    }

    /// Half-closes: the peer reads EOF, and this side can still read the answer.
    func shutdownSending() {
        shutdown(fd, Int32(SHUT_WR))
    }

    /// Reads and discards at least `count` bytes (or until the peer closes); returns how many arrived.
    func readAndDiscard(atLeast count: Int, timeout: Duration = .seconds(10)) async throws -> Int {
        try await offThread {
            let deadline = ContinuousClock.now + timeout
            var buffer = [UInt8](repeating: 0, count: 64 * 1024)
            var total = 0
            while total < count, ContinuousClock.now < deadline {
                var descriptor = pollfd(fd: self.fd, events: Int16(POLLIN), revents: 0)
                guard poll(&descriptor, 1, 100) > 0 else { continue }
                let n = recv(self.fd, &buffer, buffer.count, 0)
                if n <= 0 { break }
                total += n
            }
            return total
        }
    }

    /// Whether anything arrives (bytes or EOF) within `timeout`.
    func receivesAnything(within timeout: Duration) async -> Bool {
        (try? await offThread {
            var descriptor = pollfd(fd: self.fd, events: Int16(POLLIN), revents: 0)
            return poll(&descriptor, 1, Int32(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)) > 0
        }) ?? false
    }
}
