/// Config snippets shared by the suites. Every gateway listens on an ephemeral port.
enum TestConfigs {
    /// A listener on an ephemeral port and one upstream `api` at `${UPSTREAM}`; routes are appended.
    static let apiUpstream = """
        [server]
        listen = "127.0.0.1:0"

        [[upstreams]]
        name = "api"
        targets = ["${UPSTREAM}"]
        """

    /// One upstream `api` at `${UPSTREAM}` and one public route for everything.
    static let publicCatchAll = apiUpstream + """

        [[routes]]
        path = "/"
        upstream = "api"
        auth = "public"
        """
}
