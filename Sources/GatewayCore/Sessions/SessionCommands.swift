import Foundation

/// `gateway sessions list|revoke` (docs/operations.md#sessions-from-the-command-line) on an open store: what they read and change, and the lines they print.
/// The executable only parses arguments, opens the store and prints.
public struct SessionCommands: Sendable {
    public let store: any SessionStore
    public let clock: WallClock

    /// What `revoke` ends: every session of a user, or one session.
    public enum RevocationTarget: Sendable, Equatable {
        case user(StoredUserIDs)
        case session(String)
    }

    public init(store: any SessionStore, clock: WallClock = .system) {
        self.store = store
        self.clock = clock
    }

    /// The sessions of `user` (nil: everyone's), oldest first: the live ones, with `includeEnded` the revoked and
    /// expired ones too.
    public func list(user: StoredUserIDs?, includeEnded: Bool) async throws -> [Session] {
        try await store.sessions(of: user, includeEnded: includeEnded, at: clock.now())
    }

    /// Revokes as a logout does (docs/operations.md#revocation): the store's `revoked_at` is set, and every gateway sharing the store
    /// refuses the sessions' tokens within its `store.revocation_poll`. Returns how many sessions this revoked;
    /// one that was revoked already, or does not exist, does not count.
    public func revoke(_ target: RevocationTarget) async throws -> Int {
        let now = clock.now()
        switch target {
        case .user(let user):
            return try await store.revokeAll(sessionsOf: user, at: now).count
        case .session(let id):
            // Read first only for the count: `revoke` itself keeps the first revocation time either way.
            guard let session = try await store.session(id: id), session.revokedAt == nil else { return 0 }
            return try await store.revoke(sessionID: id, at: now) ? 1 : 0
        }
    }

    /// What `revoke` prints.
    public static func revokedLine(_ count: Int) -> String {
        "revoked \(count) session(s)"
    }

    /// One `--json` line: `sid`, `user_id` (the id as the API gave it, integer or string), `created_at`,
    /// `expires_at`, `revoked_at` (RFC 3339 UTC, `revoked_at` null when not revoked), in this order.
    public static func jsonLine(_ session: Session) -> String {
        "{\"sid\":" + JSONText.quoted(session.id)
            + ",\"user_id\":" + session.userID.jsonText
            + ",\"created_at\":" + JSONText.quoted(session.createdAt.rfc3339)
            + ",\"expires_at\":" + JSONText.quoted(session.expiresAt.rfc3339)
            + ",\"revoked_at\":" + (session.revokedAt.map { JSONText.quoted($0.rfc3339) } ?? "null") + "}"
    }

    /// The readable form: a header and one row per session, columns aligned; `STATE` is live, revoked or expired
    /// at `now`, `REVOKED` is `-` when not revoked.
    public static func table(_ sessions: [Session], now: UnixTime) -> [String] {
        let header = ["SID", "USER", "STATE", "CREATED", "EXPIRES", "REVOKED"]
        let rows = sessions.map { session in
            [session.id, session.userID.identifierString ?? session.userID.jsonText,
             session.revokedAt != nil ? "revoked" : session.isAlive(at: now) ? "live" : "expired",
             session.createdAt.rfc3339, session.expiresAt.rfc3339, session.revokedAt?.rfc3339 ?? "-"]
        }
        let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
        return ([header] + rows).map { row in
            zip(row, widths).map { cell, width in cell.padding(toLength: width, withPad: " ", startingAt: 0) }
                .joined(separator: "  ").trimmingTrailingSpaces()
        }
    }
}

extension String {
    fileprivate func trimmingTrailingSpaces() -> String {
        var text = Substring(self)
        while text.last == " " { text.removeLast() }
        return String(text)
    }
}
