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
}
