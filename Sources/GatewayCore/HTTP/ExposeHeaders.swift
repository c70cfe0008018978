import NIOHTTP1

extension HTTPHeaders {
    /// Adds a header; for `Access-Control-Expose-Headers` the value joins an existing list instead.
    mutating func addMerging(name: String, value: String) {
        guard name.lowercased() == "access-control-expose-headers", let existing = first(name: name) else {
            return add(name: name, value: value)
        }
        let listed = existing.split(separator: ",").map { $0.trimmingASCIISpaces().lowercased() }
        // `*` is no wildcard on a credentialed request (Fetch standard): there it names a header called `*`,
        // so the renewal header is listed anyway.
        if listed.contains(value.lowercased()) { return }
        replaceOrAdd(name: name, value: existing + ", " + value)
    }
}
