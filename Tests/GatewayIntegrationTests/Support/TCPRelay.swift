/// A TCP relay on 127.0.0.1 in front of another server (the test PostgreSQL) that a test cuts and restores: a real
/// network outage between the gateway and its store, without stopping the server other suites share.
import Foundation
import Glibc
import Synchronization

final class TCPRelay: Sendable {
    /// What a client of the relay meets while it is cut. Either way every connection being relayed is closed first,
    /// as a server that goes away closes its sessions.
    enum Outage: String, Sendable, CustomStringConvertible {
        /// New connections are refused (RST): the server is down on a host that is up — stopped, crashed, restarting,
        /// failing over. The commonest outage: every connection attempt fails at once.
        case refused
        /// New connections complete the TCP handshake and then hear nothing: the server hangs (the kernel still
        /// completes handshakes into the accept queue of a process that no longer accepts). No error ever arrives;
        /// only a timeout ends each attempt. On restore the waiting connections are accepted and relayed.
        case unanswered

        var description: String { rawValue }
    }

    let port: Int
    private let listener: Int32
    private let target: [UInt8]
    private let state = Mutex(State())

    private struct State {
        var outage: Outage?
        var stopping = false
        var nextID = 0
        var accepted = 0
        var open: [Int: RelayedConnection] = [:]
    }

    /// Connections relayed since the start (each one accepted and connected to the target).
    var acceptedConnections: Int { state.withLock { $0.accepted } }
    /// Connections being relayed now.
    var openConnections: Int { state.withLock { $0.open.count } }

    /// Listens on 127.0.0.1 (ephemeral port) and relays each connection to `host:port`.
    init(to host: String, port targetPort: Int) throws {
        target = try Self.address(host: host, port: targetPort)
        // The listener is bound to an explicit port (found with a probe socket) rather than to port 0: Linux then
        // keeps that port bound to it while it is shut down (not listening), so `restore` listens on the same port
        // again and an ordinary bind elsewhere cannot take it in between (one bound to port 0 loses it on shutdown).
        let (probe, address) = try loopbackSocket(backlog: nil, configure: Self.reuseAddress)
        defer { Glibc.close(probe) }
        // Non-blocking: a connection given up between poll and accept must not block the accept thread.
        let (fd, _) = try loopbackSocket(port: Int(UInt16(bigEndian: address.sin_port)), backlog: 64) { fd in
            Self.reuseAddress(fd)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        }
        listener = fd
        port = Int(UInt16(bigEndian: address.sin_port))
        Thread { [self] in acceptLoop() }.start()
    }

    private static func reuseAddress(_ fd: Int32) {
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    /// Closes every relayed connection, then meets new ones as `outage` says, until `restore()`.
    func cut(_ outage: Outage) async {
        state.withLock { state in
            precondition(state.outage == nil, "the relay is already cut")
            state.outage = outage
            // On Linux, shutting a listening socket down stops it listening (SYNs get RST) and keeps its port.
            if outage == .refused { Glibc.shutdown(listener, Int32(SHUT_RD)) }
            for connection in state.open.values { connection.shutDown() }
        }
        _ = await eventually(timeout: .seconds(10)) { self.openConnections == 0 }
    }

    /// Relays again: listens again after `.refused`; accepts what waited in the queue after `.unanswered`.
    func restore() throws {
        try state.withLock { state throws(HarnessError) in
            if state.outage == .refused, listen(listener, 64) != 0 { throw HarnessError.socket(errno) }
            state.outage = nil
        }
    }

    /// Stops accepting and closes every relayed connection.
    func close() async {
        state.withLock { state in
            state.stopping = true
            for connection in state.open.values { connection.shutDown() }
        }
        _ = await eventually(timeout: .seconds(10)) { self.openConnections == 0 }
    }

    // MARK: - relaying

    private func acceptLoop() {
        defer { Glibc.close(listener) }
        while true {
            let (stopping, accepting) = state.withLock { ($0.stopping, $0.outage == nil) }
            if stopping { return }
            guard accepting else {
                usleep(10_000)
                continue
            }
            var descriptor = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, 50) > 0 else { continue }
            // Accepted and registered under the lock, so a `cut` either comes first (nothing is accepted) or
            // finds the connection registered and closes it.
            state.withLock { state in
                guard !state.stopping, state.outage == nil else { return }
                let client = accept(listener, nil, nil)
                guard client >= 0 else { return }
                _ = fcntl(client, F_SETFD, FD_CLOEXEC)
                // The target is a loopback server: connecting (or being refused) takes no time worth unlocking for.
                guard let server = connectToTarget() else {
                    Glibc.close(client)
                    return
                }
                let id = state.nextID
                state.nextID += 1
                state.accepted += 1
                let connection = RelayedConnection(client: client, server: server)
                state.open[id] = connection
                relay(connection, id: id, from: client, to: server)
                relay(connection, id: id, from: server, to: client)
            }
        }
    }

    /// Copies `source` to `sink` on a thread of its own until either side ends; the second direction to end closes
    /// the connection's descriptors (only then: `cut` may still be shutting them down).
    private func relay(_ connection: RelayedConnection, id: Int, from source: Int32, to sink: Int32) {
        Thread { [self] in
            Self.copy(from: source, to: sink)
            connection.shutDown()
            guard connection.directionEnded() else { return }
            state.withLock { state in
                state.open[id] = nil
                Glibc.close(connection.client)
                Glibc.close(connection.server)
            }
        }.start()
    }

    private static func copy(from source: Int32, to sink: Int32) {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let received = buffer.withUnsafeMutableBytes { recv(source, $0.baseAddress, $0.count, 0) }
            if received < 0, errno == EINTR { continue }
            guard received > 0 else { return }
            var sent = 0
            while sent < received {
                let count = buffer.withUnsafeBytes { send(sink, $0.baseAddress! + sent, received - sent, Int32(MSG_NOSIGNAL)) }
                if count < 0, errno == EINTR { continue }
                guard count > 0 else { return }
                sent += count
            }
        }
    }

    private func connectToTarget() -> Int32? {
        let family = target.withUnsafeBytes { $0.load(as: sockaddr.self).sa_family }
        let fd = socket(Int32(family), Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        let connected = target.withUnsafeBytes {
            connect(fd, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t($0.count))
        }
        guard connected == 0 else {
            Glibc.close(fd)
            return nil
        }
        return fd
    }

    /// The first TCP address of `host:port`, as sockaddr bytes.
    private static func address(host: String, port: Int) throws -> [UInt8] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let first = list else { throw HarnessError.socket(status) }
        defer { freeaddrinfo(list) }
        return Array(UnsafeRawBufferPointer(start: first.pointee.ai_addr, count: Int(first.pointee.ai_addrlen)))
    }
}

/// One relayed connection: the client's socket and the one to the target, closed when both directions have ended.
private final class RelayedConnection: Sendable {
    let client: Int32
    let server: Int32
    private let directionsLeft = Mutex(2)

    init(client: Int32, server: Int32) {
        self.client = client
        self.server = server
    }

    /// Ends both directions (FIN to both peers); the copying threads see the end and finish.
    func shutDown() {
        Glibc.shutdown(client, Int32(SHUT_RDWR))
        Glibc.shutdown(server, Int32(SHUT_RDWR))
    }

    /// True for the second direction to end.
    func directionEnded() -> Bool {
        directionsLeft.withLock { left in
            left -= 1
            return left == 0
        }
    }
}
