import CCurl

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
    func layOut(_ lines: [String]) -> UnsafeMutablePointer<curl_slist>? {
        guard !lines.isEmpty else { return nil }
        let byteCount = lines.reduce(0) { $0 + $1.utf8.count + 1 }
        if lines.count > nodeCapacity {
            nodes.deallocate()
            nodeCapacity = max(lines.count, nodeCapacity * 2)
            nodes = .allocate(capacity: nodeCapacity)
        }
        if byteCount > byteCapacity {
            bytes.deallocate()
            byteCapacity = max(byteCount, byteCapacity * 2)
            bytes = .allocate(capacity: byteCapacity)
        }
        var offset = 0
        for (i, line) in lines.enumerated() {
            let start = bytes + offset
            let length = line.utf8.count
            UnsafeMutableRawBufferPointer(start: start, count: length).copyBytes(from: line.utf8)
            start[length] = 0
            offset += length + 1
            let next = i + 1 < lines.count ? nodes + (i + 1) : nil
            (nodes + i).initialize(to: curl_slist(data: start, next: next))
        }
        return nodes
    }
}
