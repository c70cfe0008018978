import Foundation
import NIOConcurrencyHelpers

/// Access tokens whose signature and claims verified, keyed by the token itself. A hit skips the signature
/// check and all JSON work; it never changes an outcome: a cached token is matched by its full bytes, and
/// whether it is still valid or only expired (renewable) is decided from the clock on every hit.
/// Bounded by an estimate of the bytes its entries hold, not by their count: a token's claims can be large.
final class VerifiedTokenCache: Sendable {
    struct Entry: Sendable {
        let token: String
        let identity: Identity

        /// The memory an entry holds, estimated: the token and encoded claims as stored, the decoded claims
        /// (a dictionary of JSON values: about four times their JSON text, measured), and the table's slot.
        var estimatedBytes: Int {
            token.utf8.count + identity.encodedClaims.utf8.count * 4 + 256
        }
    }

    private struct Shard {
        var table: [Int: Entry] = [:]
        var bytes = 0
    }

    private let shards: [NIOLockedValueBox<Shard>]
    private let bytesPerShard: Int

    /// 8 MiB: about 4,000 typical entries, enough for the tokens active within an access TTL on one gateway
    /// with thousands of users; a miss costs one signature check (microseconds).
    static let defaultBudget = 8 << 20

    init(budgetBytes: Int = VerifiedTokenCache.defaultBudget, shards: Int = 16) {
        self.shards = (0..<shards).map { _ in NIOLockedValueBox(Shard()) }
        self.bytesPerShard = max(4096, budgetBytes / shards)
    }

    /// The estimated bytes held now (tests, metrics).
    var estimatedBytes: Int { shards.reduce(0) { total, shard in total + shard.withLockedValue { $0.bytes } } }
    var count: Int { shards.reduce(0) { total, shard in total + shard.withLockedValue { $0.table.count } } }

    /// The entry for `token` if it verified before (it may have expired since).
    func lookup(_ token: Substring) -> Entry? {
        let key = token.hashValue
        guard let entry = shard(for: key).withLockedValue({ $0.table[key] }),
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
        let cost = entry.estimatedBytes
        guard cost <= bytesPerShard / 4 else { return }  // an outsized token is verified each time instead
        shard(for: key).withLockedValue { shard in
            if let replaced = shard.table[key] { shard.bytes -= replaced.estimatedBytes }
            if shard.bytes + cost > bytesPerShard {
                // Full: drop everything; the next requests re-verify (bounded memory beats LRU bookkeeping here).
                // The table's storage goes too: its capacity is what a burst of large entries left behind.
                shard.table = [:]
                shard.bytes = 0
            }
            shard.table[key] = entry
            shard.bytes += cost
        }
    }

    private func shard(for key: Int) -> NIOLockedValueBox<Shard> {
        shards[Int(UInt(bitPattern: key) % UInt(shards.count))]
    }
}
