import ArgumentParser
import GatewayCore
import Logging

/// `gateway sessions list|revoke` (docs/operations.md#sessions-from-the-command-line): the store the config names, opened as a gateway opens it, while
/// gateways run. The work and the output lines are `SessionCommands`'.
struct Sessions: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List or revoke sessions in the configured store (while gateways run).",
        subcommands: [List.self, Revoke.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the live sessions of a user, or of everyone.",
            usage: "gateway sessions list [--config FILE] (--user ID | --all) [--include-ended] [--json]"
        )

        @OptionGroup var options: ConfigOption
        @Option(name: .long, help: "The sessions of this user (42 matches the user id 42 and \"42\").")
        var user: String?
        @Flag(name: .long, help: "Every user's sessions.")
        var all = false
        @Flag(name: .long, help: "Revoked and expired sessions too.")
        var includeEnded = false
        @Flag(name: .long, help: "One JSON object per line: sid, user_id, created_at, expires_at, revoked_at.")
        var json = false

        func validate() throws {
            guard (user != nil) != all else { throw ValidationError("give exactly one of --user ID and --all") }
        }

        func run() async throws {
            try await withSessionCommands(options) { commands in
                let sessions = try await commands.list(user: user.map(StoredUserIDs.init(matching:)), includeEnded: includeEnded)
                let lines = json ? sessions.map(SessionCommands.jsonLine) : SessionCommands.table(sessions, now: commands.clock.now())
                for line in lines { print(line) }
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke every session of a user, or one session, as a logout does.",
            usage: "gateway sessions revoke [--config FILE] (--user ID | --session SID)"
        )

        @OptionGroup var options: ConfigOption
        @Option(name: .long, help: "Every session of this user (42 matches the user id 42 and \"42\").")
        var user: String?
        @Option(name: .long, help: "The session with this id (a token's sid claim).")
        var session: String?

        func validate() throws {
            guard (user == nil) != (session == nil) else { throw ValidationError("give exactly one of --user ID and --session SID") }
        }

        func run() async throws {
            let target: SessionCommands.RevocationTarget = if let user { .user(StoredUserIDs(matching: user)) } else { .session(session ?? "") }
            try await withSessionCommands(options) { commands in
                print(SessionCommands.revokedLine(try await commands.revoke(target)))
            }
        }
    }
}

/// Opens the configured store (never creating a SQLite file), runs `body` on it and closes it. A bad config, a store
/// that cannot be opened, or a failing store call: one line on stderr and exit 1 (docs/operations.md#commands).
private func withSessionCommands(_ options: ConfigOption, _ body: (SessionCommands) async throws -> Void) async throws {
    let config = try options.load()
    LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
    var logger = Logger(label: "gateway")
    // The reason is the one line printed below; the store's own connection logs would repeat it.
    logger.logLevel = .critical
    let store: any SessionStore
    do {
        store = try await Gateway.openStore(config.store.location, baseDirectory: options.baseDirectory, logger: logger,
                                            createSQLite: false)
    } catch {
        printError("gateway: \(oneLine(error))")
        throw ExitCode(1)
    }
    do {
        try await body(SessionCommands(store: store))
    } catch {
        try? await store.close()
        printError("gateway: \(oneLine(error))")
        throw ExitCode(1)
    }
    try? await store.close()
}

private func oneLine(_ error: any Error) -> String {
    "\(error)".split(whereSeparator: \.isNewline).joined(separator: " ")
}
