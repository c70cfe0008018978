/// The settings a reload may not change (docs/operations.md#reload): the listeners are bound and the store is open. A file that
/// changes one is refused whole, with a problem per setting.
public enum ReloadRestrictions {
    /// What `reloaded` (read from `file`) changes that only a restart may; empty when the reload may go ahead.
    public static func problems(running: GatewayConfig, reloaded: GatewayConfig, file: String) -> [ConfigProblem] {
        var problems: [ConfigProblem] = []
        func refuse(_ key: String, _ detail: String) {
            problems.append(ConfigProblem(file: file, key: key, line: nil,
                                          message: "cannot change by reload (\(detail)); restart the gateway to change it"))
        }
        if reloaded.server.listen != running.server.listen {
            refuse("server.listen", "running on \(running.server.listen), the file says \(reloaded.server.listen)")
        }
        if reloaded.admin.listen != running.admin.listen {
            refuse("admin.listen", "running on \(shown(running.admin.listen)), the file says \(shown(reloaded.admin.listen))")
        }
        // No values in the message: a PostgreSQL URL may carry a password.
        if reloaded.store.location != running.store.location {
            refuse("store.url", "the store in use stays open")
        }
        // The process's log handler is chosen once (swift-log's bootstrap): the format stays what it started with.
        if reloaded.log.format != running.log.format {
            refuse("log.format", "the gateway's own lines are \(running.log.format.rawValue), the file says \(reloaded.log.format.rawValue)")
        }
        return problems
    }

    private static func shown(_ address: ListenAddress?) -> String {
        address.map(\.description) ?? "none"
    }
}
