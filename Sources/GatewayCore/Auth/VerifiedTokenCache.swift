import NIOConcurrencyHelpers

/// Access tokens that verified, keyed by the token itself, each kept no longer than its own `exp`.
/// A hit skips the signature check and all JSON work; it never changes an outcome, because a cached
/// token is looked up again by its full bytes and its expiry is checked against the clock on every hit.
final class VerifiedTokenCache: Sendable {
    struct Entry: Sendable {
        let token: String
        let claims: TokenClaims
        /// base64url(JSON of the claims): the `X-Auth-Claims` value, computed once.
        let encodedClaims: String
    }

    private let shards: [NIOLockedValueBox<[Int: Entry]>]
    private let capacityPerShard: Int

    init(capacity: Int = 65_536, shards: Int = 16) {
        self.shards = (0..<shards).map { _ in NIOLockedValueBox([:]) }
        self.capacityPerShard = max(1, capacity / shards)
    }

    /// The entry for `token` if it is cached and not expired at `now` (seconds, leeway included by the caller).
    func lookup(_ token: Substring, validUntilAfter now: Int64) -> Entry? {
        let key = token.hashValue
        guard let entry = shard(for: key).withLockedValue({ $0[key] }),
              entry.token.utf8.elementsEqual(token.utf8)
        else { return nil }
        return now < entry.claims.expiresAt ? entry : nil
    }

    func insert(_ entry: Entry) {
        let key = Substring(entry.token).hashValue
        shard(for: key).withLockedValue { table in
            if table.count >= capacityPerShard {
                // Full: drop everything; the next requests re-verify (bounded memory beats LRU bookkeeping here).
                table.removeAll(keepingCapacity: true)
            }
            table[key] = entry
        }
    }

    private func shard(for key: Int) -> NIOLockedValueBox<[Int: Entry]> {
        shards[Int(UInt(bitPattern: key) % UInt(shards.count))]
    }
}
