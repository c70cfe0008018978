/// What goes wrong in the test harness itself (sockets, ports, the gateway process), as opposed to in a test.
import Foundation

enum HarnessError: Error, CustomStringConvertible {
    case socket(Int32)
    case noPort
    case executableNotFound([String])
    case notListening(stderr: String)
    case didNotExit(stderr: String)

    var description: String {
        switch self {
        case .socket(let code): "socket error \(code)"
        case .noPort: "the gateway reported no port"
        case .executableNotFound(let looked): "gateway executable not found; looked in \(looked.joined(separator: ", ")) (set GATEWAY_BINARY)"
        case .notListening(let stderr): "gateway did not log `listening on`; stderr:\n\(stderr)"
        case .didNotExit(let stderr): "gateway did not exit in time; stderr:\n\(stderr)"
        }
    }
}
