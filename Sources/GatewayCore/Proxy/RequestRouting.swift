import NIOHTTP1

/// What a request head asks for, decided from the head alone (no I/O): refused at once, one of the gateway's
/// own endpoints, or a route (whose auth is decided next).
enum RequestRouting {
    case reject(GatewayError, headers: HTTPHeaders = [:])
    case endpoint(GatewayEndpoints.Endpoint)
    /// `body`: how the request body is sent upstream.
    case route(Route, RequestTarget, isPreflight: Bool, body: UpstreamRequestBody)

    static func classify(_ head: HTTPRequestHead, limits: ServerConfig, routes: RouteTable,
                         endpoints: GatewayEndpoints) -> RequestRouting {
        if HeadSize.of(head) > limits.maxHeaderBytes { return .reject(.headerFieldsTooLarge) }
        // RFC 9112 §3.2: exactly one Host in HTTP/1.1 (none is tolerated in HTTP/1.0); else 400.
        let hosts = HeadSize.hostCount(head.headers)
        if hosts > 1 || (hosts == 0 && head.version.minor >= 1) { return .reject(.badRequest) }
        let body: UpstreamRequestBody
        switch BodyFraming.of(head.headers) {
        case .invalid:
            return .reject(.badRequest)
        case .length(let n):
            if n > limits.maxBodyBytes { return .reject(.payloadTooLarge) }
            body = .length(Int64(n))
        case .chunked:
            body = .streamed
        case .none:
            body = .none
        }
        let target: RequestTarget
        do {
            target = try RequestTarget(parsing: head.uri)
        } catch {
            return .reject(error)
        }
        if let endpoint = endpoints.match(target.path) { return .endpoint(endpoint) }
        guard let route = routes.match(target.path) else { return .reject(.notFound) }
        let isPreflight = head.method == .OPTIONS
            && head.headers.contains(name: "origin")
            && head.headers.contains(name: "access-control-request-method")
        if !isPreflight && !route.allows(head.method) {
            return .reject(.methodNotAllowed, headers: ["Allow": allowHeader(route)])
        }
        return .route(route, target, isPreflight: isPreflight, body: body)
    }

    private static func allowHeader(_ route: Route) -> String {
        var methods = route.methodList
        if methods.contains("GET") && !methods.contains("HEAD") { methods.append("HEAD") }
        return methods.joined(separator: ", ")
    }
}
