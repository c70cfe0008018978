import NIOHTTP1

/// A route compiled for the hot path: immutable, with its upstream resolved to an index.
public struct Route: Sendable {
    public let index: Int
    public let path: String
    public let upstreamIndex: Int
    public let auth: RouteAuth
    public let renew: Bool
    public let requireClaims: [(name: String, allowed: [ClaimValue])]
    public let requireScopes: [String]
    public let stripPrefix: String
    public let onInvalid: InvalidTokenPolicy
    /// `Upgrade: websocket` requests are tunnelled (docs/http.md#websocket).
    public let websocket: Bool
    /// nil = any method.
    let methods: Set<String>?
    public let methodList: [String]

    /// Whether `method` may use this route; HEAD is allowed wherever GET is.
    public func allows(_ method: HTTPMethod) -> Bool {
        guard let methods else { return true }
        if methods.contains(method.rawValue) { return true }
        return method == .HEAD && methods.contains("GET")
    }

    /// The upstream path: the routed path minus `strip_prefix`, always starting with `/`.
    public func upstreamPath(for path: Substring) -> Substring {
        // Bytes, as `RouteTable.match` compares them.
        guard !stripPrefix.isEmpty, path.utf8.hasBytePrefix(stripPrefix.utf8) else { return path }
        let rest = path[path.utf8.index(path.startIndex, offsetBy: stripPrefix.utf8.count)...]
        return rest.utf8.first == UInt8(ascii: "/") ? rest : "/" + rest
    }
}

/// The routes of a config, compiled once; longest matching path prefix wins.
public struct RouteTable: Sendable {
    /// Longest prefix first, so the first match is the answer.
    public let routes: [Route]

    public init(compiling config: GatewayConfig) {
        let upstreamIndex = Dictionary(config.upstreams.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { a, _ in a })
        self.routes = config.routes.map { r in
            Route(
                index: r.index, path: r.path, upstreamIndex: upstreamIndex[r.upstream] ?? 0, auth: r.auth,
                renew: r.renew, requireClaims: r.requireClaims, requireScopes: r.requireScopes,
                stripPrefix: r.stripPrefix, onInvalid: r.onInvalid, websocket: r.websocket,
                methods: r.methods.isEmpty ? nil : Set(r.methods), methodList: r.methods
            )
        }
        .sorted { $0.path.utf8.count > $1.path.utf8.count }
    }

    /// The route whose path is the longest prefix of `path`, compared byte for byte.
    public func match(_ path: Substring) -> Route? {
        let bytes = path.utf8
        for route in routes where bytes.hasBytePrefix(route.path.utf8) {
            return route
        }
        return nil
    }

    /// The table as `gateway check` prints it, in file order.
    public func rendered(upstreams: [UpstreamConfig]) -> String {
        var lines = ["PATH\tMETHODS\tAUTH\tUPSTREAM\tOPTIONS"]
        for route in routes.sorted(by: { $0.index < $1.index }) {
            let upstream = upstreams[route.upstreamIndex]
            var options: [String] = []
            if route.auth != .public { options.append(route.renew ? "renew" : "no-renew") }
            if !route.requireClaims.isEmpty {
                options.append("claims " + route.requireClaims.map { "\($0.name)∈[\($0.allowed.map(\.description).joined(separator: ","))]" }.joined(separator: " "))
            }
            if !route.requireScopes.isEmpty { options.append("scopes " + route.requireScopes.joined(separator: ",")) }
            if !route.stripPrefix.isEmpty { options.append("strip \(route.stripPrefix)") }
            if route.auth == .optional { options.append("on_invalid=\(route.onInvalid.rawValue)") }
            if route.websocket { options.append("websocket") }
            lines.append([
                route.path,
                route.methodList.isEmpty ? "*" : route.methodList.joined(separator: ","),
                route.auth.rawValue,
                "\(upstream.name) (\(upstream.targets.map(\.description).joined(separator: ", ")))",
                options.joined(separator: "; "),
            ].joined(separator: "\t"))
        }
        return lines.joined(separator: "\n")
    }
}
