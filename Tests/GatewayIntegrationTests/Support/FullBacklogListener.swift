/// A listener whose accept queue is full: connecting to it neither succeeds nor is refused (the kernel drops
/// the SYN), which is how an unreachable host looks to a client, without leaving the machine.
import Foundation
import Glibc

final class FullBacklogListener: Sendable {
    let port: Int
    private let descriptors: [Int32]

    init() throws {
        var (listener, address) = try loopbackSocket(backlog: 0)
        var descriptors = [listener]
        // Fill the accept queue (never accepted); later SYNs are dropped.
        for _ in 0..<3 {
            let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
            guard client >= 0 else { continue }
            _ = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(client, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            descriptors.append(client)
        }
        usleep(50_000)
        self.port = Int(UInt16(bigEndian: address.sin_port))
        self.descriptors = descriptors
    }

    func close() {
        for descriptor in descriptors { Glibc.close(descriptor) }
    }
}
