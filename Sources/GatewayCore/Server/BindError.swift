import Glibc
import NIOCore

/// A listener that could not bind, as one line for an operator: `cannot listen on 127.0.0.1:8080: address already in
/// use`. Both listeners (the public one and `admin.listen`) say it the same way; NIO's own description would name
/// its internal function (`bind(descriptor:ptr:bytes:)`) and the errno number.
public struct BindError: Error, CustomStringConvertible {
    public let address: ListenAddress
    /// The config key, when it is not `server.listen` (the one a reader assumes).
    public let setting: String?
    public let reason: String

    public init(address: ListenAddress, setting: String? = nil, error: any Error) {
        self.address = address
        self.setting = setting
        self.reason = Self.reason(error)
    }

    public var description: String {
        "cannot listen on \(address)\(setting.map { " (\($0))" } ?? ""): \(reason)"
    }

    /// The system's own words for the failure (strerror, gai_strerror), starting in lower case.
    static func reason(_ error: any Error) -> String {
        switch error {
        case let error as IOError:
            lowercasingFirst(strerror(error.errnoCode).map { String(cString: $0) } ?? "error \(error.errnoCode)")
        case let error as SocketAddressError.UnknownHost:
            "unknown host \"\(error.host)\" (\(lowercasingFirst(error.errorDescription)))"
        default:
            "\(error)"
        }
    }

    private static func lowercasingFirst(_ text: String) -> String {
        text.prefix(1).lowercased() + text.dropFirst()
    }
}
