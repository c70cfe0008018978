import NIOHTTP1

/// The one response step that hands a renewed access token back to the client (docs/http.md#renewal): the renewal header,
/// and its name in `Access-Control-Expose-Headers` so a script in a browser may read it. Used on the upstream's
/// response and on a refusal that follows a renewal alike.
struct RenewalResponseHeaders: Sendable {
    /// `renewal.header`, e.g. `X-Access-Token`.
    let header: String

    func add(_ token: String, to headers: inout HTTPHeaders) {
        // The gateway's token replaces any the upstream sent under that name: two values would read as one
        // comma-joined token in the browser.
        headers.replaceOrAdd(name: header, value: token)
        exposeHeader(in: &headers)
    }

    /// Lists the renewal header in `Access-Control-Expose-Headers`, joining the upstream's list if it sent one.
    private func exposeHeader(in headers: inout HTTPHeaders) {
        let expose = "Access-Control-Expose-Headers"
        guard let existing = headers.first(name: expose) else { return headers.add(name: expose, value: header) }
        let listed = existing.split(separator: ",").map { $0.trimmingASCIISpaces().lowercased() }
        // `*` is no wildcard on a credentialed request (Fetch standard): there it names a header called `*`,
        // so the renewal header is listed anyway.
        if listed.contains(header.lowercased()) { return }
        headers.replaceOrAdd(name: expose, value: existing + ", " + header)
    }
}
