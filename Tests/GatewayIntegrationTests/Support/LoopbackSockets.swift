/// Sockets and ports on 127.0.0.1: listeners for the tests' own servers, a free port, a port that stays dead.
import Foundation
import Glibc

/// 127.0.0.1:`port` (0: any).
func loopbackAddress(port: Int = 0) -> sockaddr_in {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return address
}

/// A TCP socket bound to 127.0.0.1 on `port` (0: an ephemeral one), listening when `backlog` is given, with its
/// address. `configure` runs before `bind`, for socket options.
func loopbackSocket(port: Int = 0, backlog: Int32?, configure: (Int32) -> Void = { _ in }) throws -> (fd: Int32, address: sockaddr_in) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw HarnessError.socket(errno) }
    configure(fd)
    var address = loopbackAddress(port: port)
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0, backlog.map({ listen(fd, $0) == 0 }) ?? true else {
        let code = errno
        Glibc.close(fd)
        throw HarnessError.socket(code)
    }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return (fd, address)
}

/// Accepts connections on `listener` until `isStopping()`, each served on a thread of its own by `serve`, which
/// owns the connection's descriptor; closes the listener at the end. `configure` runs on each new connection.
func acceptConnections(on listener: Int32, until isStopping: @escaping @Sendable () -> Bool,
                       configure: @escaping @Sendable (Int32) -> Void = { _ in },
                       serve: @escaping @Sendable (Int32) -> Void) {
    Thread {
        defer { Glibc.close(listener) }
        while !isStopping() {
            var descriptor = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, 100) > 0 else { continue }
            let client = accept(listener, nil, nil)
            guard client >= 0 else { continue }
            configure(client)
            Thread { serve(client) }.start()
        }
    }.start()
}

/// A loopback port free to bind now (bound and closed; ephemeral, so another listener may take it later).
func closedPort() throws -> Int {
    let (fd, address) = try loopbackSocket(backlog: nil)
    Glibc.close(fd)
    return Int(UInt16(bigEndian: address.sin_port))
}

/// A loopback port that refuses connections and stays so, for a dead upstream target: a privileged one (below
/// 1024) that refuses now. A closed ephemeral port could be handed to another test's listener a moment later
/// (the suite runs in parallel), and the "dead" target would answer. `index` picks further ones.
func deadPort(_ index: Int = 0) throws -> Int {
    var skipped = 0
    for port in 1..<1024 where refusesConnections(port: port) {
        if skipped == index { return port }
        skipped += 1
    }
    throw HarnessError.noPort
}

func refusesConnections(port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { Glibc.close(fd) }
    var address = loopbackAddress(port: port)
    let result = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    return result != 0 && errno == ECONNREFUSED
}
