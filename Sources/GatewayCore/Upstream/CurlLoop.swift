import CCurl
import Foundation
import Logging
import NIOCore
import Synchronization

/// One transport thread: a curl multi handle driven by `curl_multi_socket_action` from its own epoll loop,
/// so each wake-up only touches the sockets that are ready. Its keep-alive connection pool lives in the multi handle.
final class CurlLoop: @unchecked Sendable {
    enum Command {
        case start(CurlTransfer)
        case resumeSend(CurlTransfer)
        case resumeReceive(CurlTransfer)
        case cancel(CurlTransfer)
    }

    let allocator = ByteBufferAllocator()
    private let logger: Logger
    private let maxConnectionsPerHost: Int

    // Shared: the command queue, written by event loops, drained by the curl thread.
    private struct Inbox {
        var commands: [Command] = []
        var stopping = false
    }
    private let inbox = Mutex(Inbox())
    private var inboxKey: UnsafeRawPointer { UnsafeRawPointer(Unmanaged.passUnretained(self).toOpaque()) }

    // Curl thread only (after start).
    private var multi: UnsafeMutableRawPointer!
    /// Tunnels' connect-only handles (CurlLoop+Tunnels.swift) have a multi handle of their own: in the pool's, a
    /// tunnel's connection would count against the per-host limit and fill the connection cache for as long as the
    /// tunnel lives.
    var tunnelMulti: UnsafeMutableRawPointer!
    var epfd: Int32 = -1
    private let wakeFD: Int32
    /// Sockets in our epoll set that curl watches. `parked`: curl stopped watching it (a pooled keep-alive
    /// connection) but it stays registered, so reusing the connection costs one EPOLL_CTL_MOD instead of DEL + ADD.
    /// `tunnels`: the socket is the tunnel multi handle's.
    var watches: [Int32: (events: UInt32, parked: Bool, tunnels: Bool)] = [:]
    /// Open tunnels by their connection's socket: this loop watches those itself.
    var openTunnels: [Int32: CurlTransfer] = [:]
    /// Where a tunnel's reads land, before they are copied into its outbox.
    let receiveBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 1)
    private var timerDeadline: UInt64?  // monotonic nanoseconds
    private var tunnelTimerDeadline: UInt64?
    /// Easy handles between transfers.
    private var idleEasyHandles: [CurlEasy.Handle] = []
    private var touched: [CurlTransfer] = []
    private var spareCommands: [Command] = []
    var active: [ObjectIdentifier: CurlTransfer] = [:]
    private var thread: Thread?
    private let finished = Mutex(false)

    init(name: String, maxConnectionsPerHost: Int, logger: Logger) {
        self.logger = logger
        self.maxConnectionsPerHost = maxConnectionsPerHost
        self.wakeFD = cg_eventfd()
        let thread = Thread { [unowned self] in self.run(threadName: name) }
        thread.name = name
        self.thread = thread
        thread.start()
    }

    /// Queues a command for the curl thread; wakes it only when the queue was empty.
    func submit(_ command: Command) {
        let wasEmpty = inbox.withLockTSan(key: inboxKey) { inbox -> Bool in
            inbox.commands.append(command)
            return inbox.commands.count == 1
        }
        if wasEmpty { cg_eventfd_signal(wakeFD) }
    }

    /// Stops the thread after failing whatever is still in flight; blocks until it has exited.
    func stop() {
        inbox.withLockTSan(key: inboxKey) { $0.stopping = true }
        cg_eventfd_signal(wakeFD)
        while !finished.withLock({ $0 }) { usleep(1000) }
    }

    // MARK: the loop

    private func run(threadName: String) {
        cg_set_current_thread_name(threadName)
        multi = curl_multi_init()
        epfd = epoll_create1(Int32(EPOLL_CLOEXEC))
        _ = cg_epoll_ctl(epfd, EPOLL_CTL_ADD, wakeFD, EPOLLIN.rawValue)
        let me = Unmanaged.passUnretained(self).toOpaque()
        _ = cg_multi_setopt_pointer(multi, CURLMOPT_SOCKETDATA, me)
        _ = cg_multi_setopt_pointer(multi, CURLMOPT_TIMERDATA, me)
        _ = cg_multi_setopt_socket_callback(multi) { _, socket, what, userp, _ in
            Unmanaged<CurlLoop>.fromOpaque(userp!).takeUnretainedValue().watch(socket: socket, what: what)
            return 0
        }
        _ = cg_multi_setopt_timer_callback(multi) { _, timeoutMS, userp in
            Unmanaged<CurlLoop>.fromOpaque(userp!).takeUnretainedValue().setTimer(milliseconds: timeoutMS)
            return 0
        }
        _ = cg_multi_setopt_long(multi, CURLMOPT_MAX_HOST_CONNECTIONS, maxConnectionsPerHost)
        _ = cg_multi_setopt_long(multi, CURLMOPT_MAXCONNECTS, CurlUpstreamClient.maxCachedConnections)
        tunnelMulti = curl_multi_init()
        _ = cg_multi_setopt_pointer(tunnelMulti, CURLMOPT_SOCKETDATA, me)
        _ = cg_multi_setopt_pointer(tunnelMulti, CURLMOPT_TIMERDATA, me)
        _ = cg_multi_setopt_socket_callback(tunnelMulti) { _, socket, what, userp, _ in
            Unmanaged<CurlLoop>.fromOpaque(userp!).takeUnretainedValue().watch(socket: socket, what: what, tunnels: true)
            return 0
        }
        _ = cg_multi_setopt_timer_callback(tunnelMulti) { _, timeoutMS, userp in
            Unmanaged<CurlLoop>.fromOpaque(userp!).takeUnretainedValue().setTimer(milliseconds: timeoutMS, tunnels: true)
            return 0
        }

        var fds = [Int32](repeating: 0, count: 256)
        var events = [UInt32](repeating: 0, count: 256)
        var running: Int32 = 0
        while true {
            let timeout = epollTimeout()
            let n = cg_epoll_wait(epfd, &fds, &events, 256, timeout)
            var stopping = false
            if n > 0 {
                for i in 0..<Int(n) {
                    if fds[i] == wakeFD {
                        cg_eventfd_drain(wakeFD)
                        stopping = drainCommands() || stopping
                        continue
                    }
                    if !openTunnels.isEmpty, let tunnel = openTunnels[fds[i]] {
                        pumpTunnel(tunnel)
                        continue
                    }
                    let watch = watches[fds[i]]
                    if watch?.parked == true {
                        unpark(fds[i])
                        continue
                    }
                    var mask: Int32 = 0
                    if events[i] & EPOLLIN.rawValue != 0 { mask |= CURL_CSELECT_IN }
                    if events[i] & EPOLLOUT.rawValue != 0 { mask |= CURL_CSELECT_OUT }
                    if events[i] & (EPOLLERR.rawValue | EPOLLHUP.rawValue) != 0 { mask |= CURL_CSELECT_ERR }
                    curl_multi_socket_action(watch?.tunnels == true ? tunnelMulti : multi, fds[i], mask, &running)
                }
            }
            let now = monotonicNow()
            if let deadline = timerDeadline, deadline <= now {
                timerDeadline = nil
                curl_multi_socket_action(multi, -1, 0, &running)
            }
            if let deadline = tunnelTimerDeadline, deadline <= now {
                tunnelTimerDeadline = nil
                curl_multi_socket_action(tunnelMulti, -1, 0, &running)
            }
            collectCompletions(of: multi)
            collectCompletions(of: tunnelMulti)
            flushTouched()
            if stopping { break }
        }
        shutDownMulti()
        finished.withLock { $0 = true }
    }

    private func epollTimeout() -> Int32 {
        let deadline = min(timerDeadline ?? .max, tunnelTimerDeadline ?? .max)
        guard deadline != .max else { return -1 }
        let now = monotonicNow()
        if deadline <= now { return 0 }
        return Int32(min((deadline - now + 999_999) / 1_000_000, 60_000))
    }

    private func setTimer(milliseconds: Int, tunnels: Bool = false) {
        let deadline = milliseconds < 0 ? nil : monotonicNow() + UInt64(milliseconds) * 1_000_000
        if tunnels { tunnelTimerDeadline = deadline } else { timerDeadline = deadline }
    }

    private func watch(socket: Int32, what: Int32, tunnels: Bool = false) {
        if what == CURL_POLL_REMOVE {
            watches[socket]?.parked = true
            return
        }
        var events: UInt32 = 0
        if what & CURL_POLL_IN != 0 { events |= EPOLLIN.rawValue }
        if what & CURL_POLL_OUT != 0 { events |= EPOLLOUT.rawValue }
        if let current = watches[socket], !current.parked, current.events == events { return }
        // A parked fd may have been closed and its number reused by a new socket that is not in the set:
        // always MOD, and ADD when the kernel does not know it (and the other way round).
        let wasKnown = watches[socket] != nil
        if cg_epoll_ctl(epfd, wasKnown ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, socket, events) != 0 {
            _ = cg_epoll_ctl(epfd, wasKnown ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, socket, events)
        }
        watches[socket] = (events, false, tunnels)
    }

    /// An event on a socket curl no longer watches (a pooled connection the upstream closed): forget it.
    private func unpark(_ socket: Int32) {
        _ = cg_epoll_ctl(epfd, EPOLL_CTL_DEL, socket, 0)
        watches[socket] = nil
    }

    /// Runs queued commands; returns true when the loop should stop.
    private func drainCommands() -> Bool {
        // Swap the queue with the (empty) one drained last time: neither side allocates.
        var commands: [Command] = []
        swap(&commands, &spareCommands)
        let stopping = inbox.withLockTSan(key: inboxKey) { inbox -> Bool in
            swap(&commands, &inbox.commands)
            return inbox.stopping
        }
        defer {
            commands.removeAll(keepingCapacity: true)
            spareCommands = commands
        }
        for command in commands {
            switch command {
            case .start(let transfer):
                begin(transfer)
            case .resumeSend(let transfer):
                guard transfer.isActive, transfer.sendPaused else { continue }
                transfer.sendPaused = false
                if transfer.isTunnel { pumpTunnel(transfer) } else { applyPause(transfer) }
            case .resumeReceive(let transfer):
                guard transfer.isActive, transfer.recvPaused else { continue }
                transfer.recvPaused = false
                if transfer.isTunnel { pumpTunnel(transfer) } else { applyPause(transfer) }
            case .cancel(let transfer):
                guard transfer.isActive else { continue }
                end(transfer)
            }
        }
        return stopping
    }

    private func applyPause(_ transfer: CurlTransfer) {
        guard let easy = transfer.handle?.easy else { return }
        var mask: Int32 = CURLPAUSE_CONT
        if transfer.recvPaused { mask |= CURLPAUSE_RECV }
        if transfer.sendPaused { mask |= CURLPAUSE_SEND }
        curl_easy_pause(easy, mask)
        markTouched(transfer)
    }

    private func begin(_ transfer: CurlTransfer) {
        if transfer.isTunnel { return beginTunnel(transfer) }
        let handle = idleEasyHandles.popLast() ?? CurlEasy.Handle()
        transfer.handle = handle
        CurlEasy.configure(handle, for: transfer)
        // Holds the transfer while curl knows it (CURLOPT_PRIVATE is an unretained pointer to it).
        active[ObjectIdentifier(transfer)] = transfer
        let code = curl_multi_add_handle(multi, handle.easy)
        if code != CURLM_OK {
            transfer.finish(.failure(.unavailable("curl_multi_add_handle: \(code.rawValue)")))
            markTouched(transfer)
            end(transfer)
        }
    }

    /// Detaches a transfer from the multi handle and recycles its easy handle.
    private func end(_ transfer: CurlTransfer) {
        if transfer.isTunnel { return endTunnel(transfer) }
        guard let handle = transfer.handle else { return }
        curl_multi_remove_handle(multi, handle.easy)
        transfer.handle = nil
        CurlEasy.recycle(handle.easy)
        idleEasyHandles.append(handle)
        active[ObjectIdentifier(transfer)] = nil
    }

    private func collectCompletions(of multi: UnsafeMutableRawPointer) {
        var easy: UnsafeMutableRawPointer? = nil
        var result = CURLE_OK
        while cg_multi_info_read_done(multi, &easy, &result) == 1, let handle = easy {
            var privatePointer: UnsafeMutableRawPointer? = nil
            _ = cg_easy_getinfo_pointer(handle, CURLINFO_PRIVATE, &privatePointer)
            guard let privatePointer else { continue }
            let transfer = Unmanaged<CurlTransfer>.fromOpaque(privatePointer).takeUnretainedValue()
            if result == CURLE_OK && transfer.isTunnel {
                // Connected (connect-only): the handle stays in its multi handle, which keeps the connection.
                tunnelConnected(transfer)
                continue
            }
            if result == CURLE_OK {
                transfer.finish(.success(()))
            } else if CurlEasy.isConnectFailure(result) && transfer.canFailOver {
                // Nothing was sent: try the next target with the same handle.
                curl_multi_remove_handle(multi, handle)
                transfer.targetIndex += 1
                logger.debug("upstream connect failed, trying next target", metadata: ["error": "\(CurlEasy.describe(result))", "target": "\(transfer.currentURL)"])
                CurlEasy.setURL(handle, transfer.currentURL)
                curl_multi_add_handle(multi, handle)
                continue
            } else {
                logger.debug("upstream transfer failed", metadata: ["error": "\(CurlEasy.describe(result))", "url": "\(transfer.currentURL)"])
                transfer.finish(.failure(.unavailable(CurlEasy.describe(result))))
            }
            markTouched(transfer)
            end(transfer)
        }
    }

    private func flushTouched() {
        guard !touched.isEmpty else { return }
        for transfer in touched {
            transfer.isTouched = false
            transfer.flushOutbox()
        }
        touched.removeAll(keepingCapacity: true)
    }

    /// Called from the easy callbacks so the transfer's outbox is flushed after this round.
    func markTouched(_ transfer: CurlTransfer) {
        guard !transfer.isTouched else { return }
        transfer.isTouched = true
        touched.append(transfer)
    }

    private func shutDownMulti() {
        _ = drainCommands()
        // Fail what is still in flight so no client waits forever.
        for transfer in Array(active.values) {
            transfer.finish(.failure(.unavailable("gateway shutting down")))
            transfer.flushOutbox()
            end(transfer)
        }
        for handle in idleEasyHandles { curl_easy_cleanup(handle.easy) }
        idleEasyHandles.removeAll()
        curl_multi_cleanup(multi)
        curl_multi_cleanup(tunnelMulti)
        receiveBuffer.deallocate()
        close(epfd)
        close(wakeFD)
    }
}

@inline(__always)
func monotonicNow() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

extension Mutex {
    /// `withLock` for state two threads contend for, with the lock's hand-off announced to ThreadSanitizer at `key`
    /// (an address no other lock uses). TSan cannot see a contended Mutex change hands (the futex calls run in the
    /// uninstrumented Swift runtime) and would report every access to the guarded state as a race. Outside TSan
    /// builds the announcements are two not-taken branches.
    @inline(__always)
    func withLockTSan<Result: Sendable>(key: UnsafeRawPointer, _ body: (inout sending Value) -> Result) -> Result {
        withLock { value -> Result in
            cg_tsan_acquire(key)
            defer { cg_tsan_release(key) }
            return body(&value)
        }
    }
}
