import Foundation
import NIOConcurrencyHelpers

/// Access tokens whose signature and claims verified, keyed by the token itself. A hit skips the signature
/// check and all JSON work; it never changes an outcome: a cached token is matched by its full bytes, and
/// whether it is still valid or only expired (renewable) is decided from the clock on every hit.
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

    /// The entry for `token` if it verified before (it may have expired since).
    func lookup(_ token: Substring) -> Entry? {
        let key = token.hashValue
        guard let entry = shard(for: key).withLockedValue({ $0[key] }),
              VerifiedTokenCache.sameBytes(entry.token, token)
        else { return nil }
        return entry
    }

    /// Byte equality. Never `==`: String equality is canonical equivalence, under which a token spelled with,
    /// say, U+212A KELVIN SIGN would match the cached token that has an ASCII `K` in its place.
    static func sameBytes(_ cached: String, _ token: Substring) -> Bool {
        guard cached.utf8.count == token.utf8.count else { return false }
        if cached.isEmpty { return true }
        let fast = cached.utf8.withContiguousStorageIfAvailable { a in
            token.utf8.withContiguousStorageIfAvailable { b in memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0 }
        }
        return (fast ?? nil) ?? cached.utf8.elementsEqual(token.utf8)
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
