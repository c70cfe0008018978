/// Conveniences over TestUpstream's journal for assertions.
extension TestUpstream {
    /// The most recently completed request.
    var lastRequest: RecordedRequest? { requests.last }

    /// Completed requests whose target starts with `prefix`.
    func requests(withTargetPrefix prefix: String) -> [RecordedRequest] {
        requests.filter { $0.uri.hasPrefix(prefix) }
    }
}

extension RecordedRequest {
    /// Header names as received, lower-cased.
    var lowercasedHeaderNames: [String] { headers.map { $0.name.lowercased() } }
}
