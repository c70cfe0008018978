/// The config texts the suites shared before TestConfig, kept so a suite written against them still builds.
enum TestConfigs {
    /// A listener on an ephemeral port and one upstream `api` at `${UPSTREAM}`; routes are appended.
    @available(*, deprecated, message: "use TestConfig.apiUpstream(routes…)")
    static let apiUpstream = TestConfig.apiUpstream().text

    /// One upstream `api` at `${UPSTREAM}` and one public route for everything.
    @available(*, deprecated, message: "use TestConfig.publicCatchAll")
    static let publicCatchAll = TestConfig.publicCatchAll.text
}
