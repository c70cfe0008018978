import Glibc

/// How many client connections fit in the process's file descriptor limit (`server.max_connections`, docs/configuration.md).
/// Each client connection takes one descriptor; upstream connections take at most one per connection libcurl
/// may open (`maxUpstreamConnections`); a fixed reserve covers listeners, the store, key files and logs.
public struct DescriptorBudget: Sendable, Equatable {
    /// The default `max_connections`.
    public static let defaultMaxConnections = 10_000
    /// Listeners, event-loop wake-ups, the store, log files, key files.
    public static let reserve = 64

    /// The connections to allow, and a warning when the default was lowered to fit.
    public var maxConnections: Int
    public var warning: String?

    /// Pure: decides from the configured value (nil = default) and the descriptor limit.
    public static func decide(configured: Int?, descriptorLimit: Int, maxUpstreamConnections: Int) throws(StartupProblem) -> DescriptorBudget {
        let available = descriptorLimit - reserve - maxUpstreamConnections
        if let configured {
            guard configured <= available else {
                throw StartupProblem(
                    "server.max_connections = \(configured) does not fit the file descriptor limit of \(descriptorLimit) "
                        + "(\(reserve + maxUpstreamConnections) are kept for upstream connections and the gateway itself); "
                        + "raise the limit (ulimit -n) or lower max_connections to \(max(0, available))"
                )
            }
            return DescriptorBudget(maxConnections: configured, warning: nil)
        }
        guard defaultMaxConnections > available else {
            return DescriptorBudget(maxConnections: defaultMaxConnections, warning: nil)
        }
        guard available >= 1 else {
            throw StartupProblem("the file descriptor limit of \(descriptorLimit) leaves no room for client connections; raise it (ulimit -n)")
        }
        return DescriptorBudget(
            maxConnections: available,
            warning: "max_connections lowered to \(available) to fit the file descriptor limit of \(descriptorLimit) (raise it with ulimit -n)"
        )
    }

    /// Raises the soft descriptor limit to the hard one (what a server is allowed to take) and returns it.
    public static func raiseDescriptorLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        return limit.rlim_cur >= rlim_t(Int32.max) ? Int(Int32.max) : Int(limit.rlim_cur)
    }
}

/// A reason the gateway cannot start, as one line.
public struct StartupProblem: Error, Equatable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
