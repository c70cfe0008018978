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

/// Config snippets shared by the suites. Every gateway listens on an ephemeral port.
enum TestConfigs {
    /// One upstream `api` at `${UPSTREAM}` and one public route for everything.
    static let publicCatchAll = """
        [server]
        listen = "127.0.0.1:0"

        [[upstreams]]
        name = "api"
        targets = ["${UPSTREAM}"]

        [[routes]]
        path = "/"
        upstream = "api"
        auth = "public"
        """

    /// Keeps later issues' files (signing key, session store) inside the test's temp directory.
    static let privateFiles = """
        [tokens]
        secret_file = "${TMP}/secret.key"

        [store]
        url = "sqlite:${TMP}/gateway.db"
        """
}
