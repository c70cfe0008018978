import CCurl
import Glibc

/// Storage for a request's header lines as a `curl_slist` (CURLOPT_HTTPHEADER), owned by one easy handle and
/// reused by its transfers: `curl_slist_append` costs two allocations and a copy per line, every request.
///
/// curl only reads the list, and only while the transfer it was set for runs; the handle's owner lays out the
/// next list only after that transfer has left the multi handle and the option was cleared.
final class CurlHeaderList {
    private var nodes: UnsafeMutablePointer<curl_slist>
    private var nodeCapacity: Int
    private var bytes: UnsafeMutablePointer<CChar>
    private var byteCapacity: Int

    init(nodeCapacity: Int = 16, byteCapacity: Int = 2048) {
        self.nodeCapacity = nodeCapacity
        self.byteCapacity = byteCapacity
        nodes = .allocate(capacity: nodeCapacity)
        bytes = .allocate(capacity: byteCapacity)
    }

    deinit {
        nodes.deallocate()
        bytes.deallocate()
    }

    /// Lays `lines` out as NUL-terminated strings linked in order; returns the list's head (nil when empty).
    /// The previous list is gone afterwards.
    func layOut(_ lines: HeaderLines) -> UnsafeMutablePointer<curl_slist>? {
        guard lines.count > 0 else { return nil }
        if lines.count > nodeCapacity {
            nodes.deallocate()
            nodeCapacity = max(lines.count, nodeCapacity * 2)
            nodes = .allocate(capacity: nodeCapacity)
        }
        let byteCount = lines.packed.count
        if byteCount > byteCapacity {
            bytes.deallocate()
            byteCapacity = max(byteCount, byteCapacity * 2)
            bytes = .allocate(capacity: byteCapacity)
        }
        lines.packed.withUnsafeBytes { packed in
            UnsafeMutableRawPointer(bytes).copyMemory(from: packed.baseAddress!, byteCount: byteCount)
        }
        var start = bytes
        for i in 0..<lines.count {
            let next = i + 1 < lines.count ? nodes + (i + 1) : nil
            (nodes + i).initialize(to: curl_slist(data: start, next: next))
            start += strlen(start) + 1
        }
        return nodes
    }
}
