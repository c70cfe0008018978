import Foundation
import Logging
import PostgresNIO
import Testing
@testable import GatewayCore

/// A database of its own per test, inside the throw-away cluster `scripts/test` starts
/// (`AUTH_GATEWAY_TEST_POSTGRES_URL`, an administrator's URL). Dropped afterwards.
enum PostgresTestDatabase {
    static let adminURL = ProcessInfo.processInfo.environment["AUTH_GATEWAY_TEST_POSTGRES_URL"]
    static var isAvailable: Bool { adminURL.map { !$0.isEmpty } ?? false }
    static let unavailableReason: Comment = "needs AUTH_GATEWAY_TEST_POSTGRES_URL: run scripts/test, which starts PostgreSQL"

    /// Creates a fresh database and hands `body` its URL.
    static func with<T>(_ body: (String) async throws -> T) async throws -> T {
        let admin = try #require(adminURL)
        let name = "agw_test_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        try await execute("CREATE DATABASE \(name)", adminURL: admin)
        var components = try #require(URLComponents(string: admin))
        components.path = "/" + name
        let url = try #require(components.string)
        do {
            let result = try await body(url)
            try? await execute("DROP DATABASE \(name) WITH (FORCE)", adminURL: admin)
            return result
        } catch {
            try? await execute("DROP DATABASE \(name) WITH (FORCE)", adminURL: admin)
            throw error
        }
    }

    /// Runs one statement (database names cannot be bound parameters) on a connection of its own.
    static func execute(_ sql: String, adminURL: String) async throws {
        let location = try PostgresURL(adminURL)
        let client = PostgresClient(configuration: location.clientConfiguration,
                                    backgroundLogger: Logger(label: "postgres-test-admin", factory: { _ in SwiftLogNoOpLogHandler() }))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            try await client.query(PostgresQuery(unsafeSQL: sql))
        }
    }

    /// A store on `url` with logging off.
    static func store(_ url: String, operationTimeout: Duration = .seconds(5)) async throws -> PostgresSessionStore {
        try await PostgresSessionStore(url: url, logger: Logger(label: "postgres-store-test", factory: { _ in SwiftLogNoOpLogHandler() }),
                                       operationTimeout: operationTimeout)
    }
}
