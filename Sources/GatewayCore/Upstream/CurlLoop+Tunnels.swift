import CCurl
import Glibc

/// WebSocket tunnels (docs/http.md#websocket) through libcurl's connect-only mode. curl connects (TCP, and TLS for https targets)
/// in the loop's second multi handle and sends nothing; the loop then writes the upgrade request and everything the
/// client sends with `curl_easy_send`, and reads the answer and everything after it with `curl_easy_recv`, on this
/// thread, when epoll says the connection's socket is ready. Debian's libcurl 7.88 has no ws:// support, and its
/// HTTP engine reads a 101 it did not ask for as the start of a body that ends at close, with no way to send on.
///
/// Backpressure both ways uses the transfer's own flows: the client's bytes wait in the request flow (reading from
/// the client pauses above its high-water mark) and leave as the socket takes them; the upstream's bytes are read
/// only while the client has room (`hasResponseRoom`), and the socket leaves epoll meanwhile, so a tunnel holds at
/// most the flows' high-water marks and one read, whatever it carries.
extension CurlLoop {
    func beginTunnel(_ transfer: CurlTransfer) {
        let handle = CurlEasy.Handle()
        transfer.handle = handle
        CurlEasy.configureTunnel(handle, for: transfer)
        active[ObjectIdentifier(transfer)] = transfer
        let code = curl_multi_add_handle(tunnelMulti, handle.easy)
        if code != CURLM_OK {
            closeTunnel(transfer, .failure(.unavailable("curl_multi_add_handle: \(code.rawValue)")))
        }
    }

    /// curl has connected a tunnel: write the upgrade request, then read the answer.
    func tunnelConnected(_ transfer: CurlTransfer) {
        guard let easy = transfer.handle?.easy else { return }
        var socket: curl_socket_t = -1
        guard cg_easy_getinfo_socket(easy, CURLINFO_ACTIVESOCKET, &socket) == CURLE_OK, socket >= 0 else {
            return closeTunnel(transfer, .failure(.unavailable("no connection after connect")))
        }
        let head = UpgradeRequestHead.bytes(method: transfer.request.method, url: transfer.currentURL,
                                            headerLines: transfer.request.headerLines)
        transfer.tunnel = TunnelIO(socket: socket, head: head)
        // curl stopped watching the socket (its handle is done); it is this loop's to watch now.
        watches[socket] = nil
        openTunnels[socket] = transfer
        pumpTunnel(transfer)
    }

    /// Moves what can move now, both ways, then watches the socket for what waits on it.
    func pumpTunnel(_ transfer: CurlTransfer) {
        guard let io = transfer.tunnel, let easy = transfer.handle?.easy else { return }
        guard send(transfer, io, easy), receive(transfer, io, easy) else { return }
        if io.switched && !io.hasOutgoing && !transfer.sendPaused {
            // Just switched: the client's first bytes are asked for (and curl is told to wait for them).
            guard send(transfer, io, easy) else { return }
        }
        watch(io, events: (transfer.recvPaused ? 0 : EPOLLIN.rawValue) | (io.hasOutgoing ? EPOLLOUT.rawValue : 0))
    }

    /// Writes what waits, refilling from the client's bytes once the 101 is in. False when the tunnel ended.
    private func send(_ transfer: CurlTransfer, _ io: TunnelIO, _ easy: UnsafeMutableRawPointer) -> Bool {
        while true {
            if !io.hasOutgoing {
                guard io.switched else { return true }
                let n = transfer.fillRequestBody(io.buffer)
                if n == CurlTransfer.readPause { return true }
                if n == 0 {
                    // The client is done sending: so is the tunnel.
                    closeTunnel(transfer, .success(()))
                    return false
                }
                io.refill(n)
            }
            var sent = 0
            let code = io.withOutgoing { curl_easy_send(easy, $0.baseAddress, $0.count, &sent) }
            if code == CURLE_AGAIN { return true }
            guard code == CURLE_OK else {
                closeTunnel(transfer, .failure(.unavailable(CurlEasy.describe(code))))
                return false
            }
            io.sent(sent)
        }
    }

    /// Reads while the client has room. False when the tunnel ended.
    private func receive(_ transfer: CurlTransfer, _ io: TunnelIO, _ easy: UnsafeMutableRawPointer) -> Bool {
        while !transfer.recvPaused {
            if transfer.headComplete && !transfer.hasResponseRoom() {
                transfer.recvPaused = true
                return true
            }
            var n = 0
            let code = curl_easy_recv(easy, receiveBuffer.baseAddress, receiveBuffer.count, &n)
            if code == CURLE_AGAIN { return true }
            guard code == CURLE_OK else {
                closeTunnel(transfer, .failure(.unavailable(CurlEasy.describe(code))))
                return false
            }
            if n == 0 {
                let closedWell = io.reader.isCompleteAtClose
                closeTunnel(transfer, closedWell ? .success(()) : .failure(.unavailable("upstream closed the connection")))
                return false
            }
            markTouched(transfer)
            do {
                if try transfer.tunnelReceived(UnsafeRawBufferPointer(rebasing: receiveBuffer[0..<n]), reader: &io.reader) {
                    closeTunnel(transfer, .success(()))
                    return false
                }
            } catch {
                closeTunnel(transfer, .failure(.unavailable(error.reason)))
                return false
            }
            if !io.switched && io.reader.hasSwitched { io.switched = true }
        }
        return true
    }

    /// Registers the tunnel's socket for `events`; none takes it out of epoll (level-triggered, a socket with bytes
    /// waiting would wake the loop for as long as the client is not ready for them).
    private func watch(_ io: TunnelIO, events: UInt32) {
        guard events != io.interest else { return }
        if events == 0 {
            _ = cg_epoll_ctl(epfd, EPOLL_CTL_DEL, io.socket, 0)
        } else if cg_epoll_ctl(epfd, io.interest == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, io.socket, events) != 0 {
            // Registered or not, as curl left it: the other operation then works.
            _ = cg_epoll_ctl(epfd, io.interest == 0 ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, io.socket, events)
        }
        io.interest = events
    }

    /// The tunnel is over: its result goes to the event loop, its connection is closed (removing a connect-only
    /// handle from its multi handle closes the connection), the handle freed.
    func closeTunnel(_ transfer: CurlTransfer, _ result: Result<Void, UpstreamFailure>) {
        transfer.finish(result)
        markTouched(transfer)
        endTunnel(transfer)
    }

    func endTunnel(_ transfer: CurlTransfer) {
        guard let handle = transfer.handle else { return }
        if let io = transfer.tunnel {
            if io.interest != 0 { _ = cg_epoll_ctl(epfd, EPOLL_CTL_DEL, io.socket, 0) }
            openTunnels[io.socket] = nil
            transfer.tunnel = nil
        }
        curl_multi_remove_handle(tunnelMulti, handle.easy)
        curl_easy_cleanup(handle.easy)
        transfer.handle = nil
        active[ObjectIdentifier(transfer)] = nil
    }
}

/// The loop's side of a tunnel's connection once curl has connected it (curl thread only).
final class TunnelIO {
    let socket: Int32
    /// Bytes for the socket: the upgrade request first, then the client's. What a write that would block left is
    /// retried from the same place (OpenSSL wants a blocked write retried with the same bytes).
    let buffer: UnsafeMutableRawBufferPointer
    private var start = 0
    private var end: Int
    var reader = UpgradeResponseReader()
    /// The upstream answered 101: the client's bytes may go up.
    var switched = false
    /// The epoll events the socket is registered for; 0 = not (curl leaves it registered for its own events:
    /// `UInt32.max` until the loop sets them).
    var interest = UInt32.max

    init(socket: Int32, head: [UInt8]) {
        self.socket = socket
        buffer = .allocate(byteCount: max(64 * 1024, head.count), alignment: 1)
        buffer.copyBytes(from: head)
        end = head.count
    }

    deinit {
        buffer.deallocate()
    }

    var hasOutgoing: Bool { start < end }

    func withOutgoing<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        body(UnsafeRawBufferPointer(rebasing: buffer[start..<end]))
    }

    func sent(_ count: Int) { start += count }

    func refill(_ count: Int) {
        start = 0
        end = count
    }
}
