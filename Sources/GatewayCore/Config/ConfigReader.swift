import Foundation
import TOMLKit

/// Reads `gateway.conf` (TOML) into a `GatewayConfig`, collecting every problem instead of stopping at the first.
/// The only place that knows the file format.
public struct ConfigReader: Sendable {
    public let environment: [String: String]

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.environment = environment
    }

    /// Reads and validates the file at `path`; messages name it by `path` as given.
    /// The folder relative paths in the file at `path` resolve against (docs/configuration.md).
    public static func directory(of path: String) -> String {
        let directory = (path as NSString).deletingLastPathComponent
        return directory.isEmpty ? "." : directory
    }

    public func read(path: String) throws(ConfigError) -> GatewayConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            let reason = FileManager.default.fileExists(atPath: path) ? "cannot be read" : "does not exist"
            throw ConfigError(file: path, "config file \(reason)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(file: path, "config file is not UTF-8 text")
        }
        return try parse(text, file: path)
    }

    /// Validates TOML `text`; `file` names it in messages.
    public func parse(_ text: String, file: String) throws(ConfigError) -> GatewayConfig {
        // toml++ aborts the process on a few malformed shapes instead of throwing (TOMLPreflight.swift).
        if let refusal = TOMLPreflight.refusal(in: text) {
            throw ConfigError(file: file, line: refusal.line, "invalid TOML: \(refusal.reason)")
        }
        let root: TOMLTable
        do {
            root = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw ConfigError(file: file, line: error.source.begin.line, "invalid TOML: \(error.description)")
        } catch {
            throw ConfigError(file: file, "invalid TOML: \(error)")
        }
        let walk = ConfigWalk(file: file, lines: KeyLines(text), environment: environment)
        let config = walk.build(root)
        if !walk.problems.isEmpty { throw ConfigError(problems: walk.problems) }
        return config
    }
}

/// One pass over the parsed document. A class because the section readers share its problem list.
private final class ConfigWalk {
    let file: String
    let lines: KeyLines
    let environment: [String: String]
    var problems: [ConfigProblem] = []

    init(file: String, lines: KeyLines, environment: [String: String]) {
        self.file = file
        self.lines = lines
        self.environment = environment
    }

    func report(_ key: String, _ message: String) {
        problems.append(ConfigProblem(file: file, key: key, line: lines.line(of: key), message: message))
    }

    func build(_ root: TOMLTable) -> GatewayConfig {
        var config = GatewayConfig()
        let top = Section(root, path: "", walk: self)

        if let s = top.table("server") {
            s.listenAddress("listen", into: &config.server.listen)
            s.size("max_header_bytes", into: &config.server.maxHeaderBytes, in: ConfigBounds.headerBytes)
            s.size("max_body_bytes", into: &config.server.maxBodyBytes, in: ConfigBounds.bodyBytes)
            s.duration("idle_timeout", into: &config.server.idleTimeout, positive: true, max: ConfigBounds.timeout)
            s.duration("shutdown_timeout", into: &config.server.shutdownTimeout, max: ConfigBounds.timeout)
            s.integer("max_connections", into: &config.server.maxConnections, in: ConfigBounds.connections)
            s.duration("send_timeout", into: &config.server.sendTimeout, positive: true, max: ConfigBounds.timeout)
            s.string("tls_cert_file", into: &config.server.tlsCertFile)
            s.string("tls_key_file", into: &config.server.tlsKeyFile)
            s.bool("http2", into: &config.server.http2)
            s.finish()
        }
        // A certificate without its key (or the other way round) is a half-made TLS listener: never plaintext instead.
        if config.server.tlsCertFile.isEmpty != config.server.tlsKeyFile.isEmpty {
            let missing = config.server.tlsCertFile.isEmpty ? "tls_cert_file" : "tls_key_file"
            let given = config.server.tlsCertFile.isEmpty ? "tls_key_file" : "tls_cert_file"
            report("server.\(missing)", "is needed with server.\(given) (TLS takes both files, or neither)")
        }
        if let t = top.table("tokens") {
            t.string("issuer", into: &config.tokens.issuer)
            t.string("audience", into: &config.tokens.audience)
            t.choice("algorithm", into: &config.tokens.algorithm)
            t.string("secret_file", into: &config.tokens.secretFile)
            t.string("private_key_file", into: &config.tokens.privateKeyFile)
            if let files = t.stringArray("previous_secret_files", required: false) { config.tokens.previousSecretFiles = files }
            if let files = t.stringArray("previous_key_files", required: false) { config.tokens.previousKeyFiles = files }
            t.duration("refresh_reuse_interval", into: &config.tokens.refreshReuseInterval)
            t.duration("access_ttl", into: &config.tokens.accessTTL, positive: true)
            t.duration("refresh_ttl", into: &config.tokens.refreshTTL, positive: true)
            t.duration("session_max_age", into: &config.tokens.sessionMaxAge, positive: true)
            t.duration("leeway", into: &config.tokens.leeway, wholeSeconds: true)
            t.string("user_id_claim", into: &config.tokens.userIdClaim, nonEmpty: true)
            t.bool("rotate_refresh", into: &config.tokens.rotateRefresh)
            t.bool("blacklist_after_rotation", into: &config.tokens.blacklistAfterRotation)
            t.finish()
        }
        if !config.tokens.algorithm.isHMAC && config.tokens.privateKeyFile.isEmpty {
            report("tokens.private_key_file", "algorithm \(config.tokens.algorithm.rawValue) needs a PEM private key file")
        }
        // Each kind of retired key belongs to one family (docs/operations.md#keys-kid-rotation-and-jwks): a mismatch is a mistake, never ignored.
        if !config.tokens.algorithm.isHMAC && !config.tokens.previousSecretFiles.isEmpty {
            report("tokens.previous_secret_files", "is for HS256/HS384/HS512; algorithm \(config.tokens.algorithm.rawValue) lists retired keys in previous_key_files")
        }
        if config.tokens.algorithm.isHMAC && !config.tokens.previousKeyFiles.isEmpty {
            report("tokens.previous_key_files", "is for ES256/RS256/EdDSA; algorithm \(config.tokens.algorithm.rawValue) lists retired secrets in previous_secret_files")
        }
        if config.tokens.algorithm.isHMAC && config.tokens.secretFile.isEmpty {
            report("tokens.secret_file", "algorithm \(config.tokens.algorithm.rawValue) needs a secret file")
        }
        if let r = top.table("renewal") {
            r.bool("enabled", into: &config.renewal.enabled)
            r.headerName("header", into: &config.renewal.header, allowEmpty: false)
            r.duration("window", into: &config.renewal.window)
            r.duration("grace", into: &config.renewal.grace)
            r.finish()
        }
        if let s = top.table("store") {
            var url = "sqlite:var/gateway.db"
            s.string("url", into: &url)
            s.duration("revocation_poll", into: &config.store.revocationPoll)
            if url.hasPrefix("sqlite:") {
                let path = String(url.dropFirst("sqlite:".count))
                if path.isEmpty { report("store.url", "sqlite: needs a file path, e.g. \"sqlite:var/gateway.db\"") }
                config.store.location = .sqlite(path: path)
            } else if url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") {
                do {
                    _ = try PostgresURL(url)
                    config.store.location = .postgres(url: url)
                } catch {
                    report("store.url", "\(error) in \"\(redactedURL(url))\"")
                }
            } else {
                report("store.url", "expected \"sqlite:PATH\" or \"postgres://user:pass@host:port/db\", got \"\(redactedURL(url))\"")
            }
            s.finish()
        }
        if let a = top.table("auth") {
            a.path("login_path", into: &config.auth.loginPath)
            a.path("refresh_path", into: &config.auth.refreshPath)
            a.path("logout_path", into: &config.auth.logoutPath)
            a.string("verify_url", into: &config.auth.verifyURL)
            if case .failure(let m) = ConfigValueParsers.upstreamTarget(config.auth.verifyURL) {
                report("auth.verify_url", m.text)
            }
            a.duration("verify_connect_timeout", into: &config.auth.verifyConnectTimeout, positive: true, max: ConfigBounds.timeout)
            a.duration("verify_timeout", into: &config.auth.verifyTimeout, positive: true, max: ConfigBounds.timeout)
            a.pointer("user_pointer", into: &config.auth.userPointer)
            a.pointer("user_id_pointer", into: &config.auth.userIdPointer)
            if let claims = a.table("claims") {
                for key in claims.keys.sorted() {
                    var pointerText = ""
                    claims.string(key, into: &pointerText)
                    do {
                        config.auth.claims.append((key, try JSONPointer(parsing: pointerText)))
                    } catch {
                        report("auth.claims.\(key)", "\(error)")
                    }
                    if TokenClaimNames.reserved(userIdClaim: config.tokens.userIdClaim).contains(key) {
                        report("auth.claims.\(key)", "\"\(key)\" is set by the gateway itself and cannot be copied from the user")
                    }
                }
                claims.finish()
            }
            a.choice("refresh_delivery", into: &config.auth.refreshDelivery)
            a.string("cookie_name", into: &config.auth.cookieName, nonEmpty: true)
            if !config.auth.cookieName.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }) {
                report("auth.cookie_name", "a cookie name is letters, digits, \"-\", \"_\" and \".\", got \"\(config.auth.cookieName)\"")
            }
            a.path("cookie_path", into: &config.auth.cookiePath)
            a.bool("cookie_secure", into: &config.auth.cookieSecure)
            a.choice("cookie_same_site", into: &config.auth.cookieSameSite)
            if let origins = a.stringArray("cors_origins", required: false) {
                for (index, origin) in origins.enumerated() {
                    if let problem = ConfigValueParsers.originProblem(origin) {
                        report("auth.cors_origins[\(index)]", problem)
                    }
                }
                config.auth.corsOrigins = origins
            }
            a.finish()
            if config.auth.cookieSameSite == .none && !config.auth.cookieSecure {
                report("auth.cookie_same_site", "SameSite=None requires cookie_secure = true (browsers drop the cookie otherwise)")
            }
            let endpoints = [config.auth.loginPath, config.auth.refreshPath, config.auth.logoutPath]
            if Set(endpoints).count != endpoints.count {
                report("auth", "login_path, refresh_path and logout_path must differ")
            }
        }
        if let h = top.table("headers") {
            h.headerName("user_id", into: &config.headers.userId, allowEmpty: true)
            h.headerName("session_id", into: &config.headers.sessionId, allowEmpty: true)
            h.headerName("claims", into: &config.headers.claims, allowEmpty: true)
            h.bool("forward_authorization", into: &config.headers.forwardAuthorization)
            h.finish()
        }
        for (i, u) in top.tableArray("upstreams").enumerated() {
            let name = u.requiredString("name")
            var targets: [UpstreamTarget] = []
            if let texts = u.stringArray("targets", required: true) {
                if texts.isEmpty { report("upstreams[\(i)].targets", "needs at least one target URL") }
                for (j, text) in texts.enumerated() {
                    switch ConfigValueParsers.upstreamTarget(text) {
                    case .success(let t): targets.append(t)
                    case .failure(let m): report("upstreams[\(i)].targets[\(j)]", m.text)
                    }
                }
            }
            var upstream = UpstreamConfig(name: name ?? "", targets: targets)
            u.string("host", into: &upstream.host)
            u.duration("connect_timeout", into: &upstream.connectTimeout, positive: true, max: ConfigBounds.timeout)
            u.duration("timeout", into: &upstream.timeout, positive: true, max: ConfigBounds.timeout)
            u.duration("read_timeout", into: &upstream.readTimeout, positive: true, max: ConfigBounds.timeout)
            u.finish()
            if let name {
                if config.upstreams.contains(where: { $0.name == name }) {
                    report("upstreams[\(i)].name", "duplicate upstream name \"\(name)\"")
                }
                config.upstreams.append(upstream)
            }
        }
        for (i, r) in top.tableArray("routes").enumerated() {
            let key = "routes[\(i)]"
            let path = r.requiredString("path")
            let upstream = r.requiredString("upstream")
            var route = RouteConfig(path: path ?? "/", upstream: upstream ?? "", index: i)
            if let path {
                if !path.hasPrefix("/") {
                    report("\(key).path", "a route path starts with \"/\", got \"\(path)\"")
                } else if config.routes.contains(where: { $0.path == path }) {
                    report("\(key).path", "duplicate route path \"\(path)\"")
                }
            }
            if let upstream, !config.upstreams.contains(where: { $0.name == upstream }) {
                let known = config.upstreams.map { "\"\($0.name)\"" }.joined(separator: ", ")
                report("\(key).upstream", "unknown upstream \"\(upstream)\"" + (known.isEmpty ? " (no [[upstreams]] defined)" : "; defined: \(known)"))
            }
            if let methods = r.stringArray("methods", required: false) {
                for (j, m) in methods.enumerated() {
                    let upper = m.uppercased()
                    if HTTPMethodNames.known.contains(upper) {
                        if !route.methods.contains(upper) { route.methods.append(upper) }
                    } else {
                        report("\(key).methods[\(j)]", "unknown HTTP method \"\(m)\"")
                    }
                }
            }
            r.choice("auth", into: &route.auth)
            r.bool("renew", into: &route.renew)
            if let claims = r.table("require_claims") {
                for name in claims.keys.sorted() {
                    if let allowed = claims.claimValues(name) { route.requireClaims.append((name, allowed)) }
                }
                claims.finish()
            }
            if let scopes = r.stringArray("require_scopes", required: false) {
                for (j, s) in scopes.enumerated() where s.isEmpty || s.contains(" ") {
                    report("\(key).require_scopes[\(j)]", "a scope is one word without spaces, got \"\(s)\"")
                }
                route.requireScopes = scopes
            }
            r.string("strip_prefix", into: &route.stripPrefix)
            if !route.stripPrefix.isEmpty {
                if !route.stripPrefix.hasPrefix("/") {
                    report("\(key).strip_prefix", "starts with \"/\", got \"\(route.stripPrefix)\"")
                } else if let path, !path.hasPrefix(route.stripPrefix) {
                    report("\(key).strip_prefix", "\"\(route.stripPrefix)\" is not a prefix of the route path \"\(path)\"")
                }
            }
            r.choice("on_invalid", into: &route.onInvalid)
            r.bool("websocket", into: &route.websocket)
            r.finish()
            if route.onInvalid == .anonymous && route.auth != .optional {
                report("\(key).on_invalid", "\"anonymous\" applies to optional routes only (this route is \(route.auth.rawValue))")
            }
            if route.auth == .public && (!route.requireClaims.isEmpty || !route.requireScopes.isEmpty) {
                report("\(key).auth", "a public route verifies nothing, so require_claims/require_scopes would never be checked")
            }
            config.routes.append(route)
        }
        if let a = top.table("admin") {
            var listen = ""
            a.string("listen", into: &listen)
            if !listen.isEmpty {
                switch ConfigValueParsers.listenAddress(listen) {
                case .success(let address):
                    config.admin.listen = address
                    // Port 0 twice is two different ports; anything else the same is one socket.
                    if address == config.server.listen && address.port != 0 {
                        report("admin.listen", "must differ from server.listen (\(address)): the admin listener is never the public one")
                    }
                case .failure(let m):
                    report("admin.listen", m.text)
                }
            }
            a.finish()
        }
        if let l = top.table("log") {
            var access = "stdout"
            l.string("access", into: &access, nonEmpty: true)
            switch access {
            case "stdout": config.log.access = .stdout
            case "stderr": config.log.access = .stderr
            case "off": config.log.access = .off
            default: config.log.access = .file(path: access)
            }
            l.choice("format", into: &config.log.format)
            l.finish()
        }
        top.finish()
        if config.upstreams.isEmpty { report("upstreams", "at least one [[upstreams]] entry is needed") }
        if config.routes.isEmpty { report("routes", "at least one [[routes]] entry is needed") }
        return config
    }

    /// The URL without its user part (which may hold a password) and without its query (`?password=…`).
    private func redactedURL(_ url: String) -> String {
        var shown = Substring(url)
        if let query = shown.firstIndex(of: "?") { shown = shown[..<query] + "?…" }
        guard let at = shown.lastIndex(of: "@"), let scheme = shown.range(of: "://") else { return String(shown) }
        return shown[..<scheme.upperBound] + "…" + shown[at...]
    }
}

/// Reads the keys of one table, remembering which were used so unknown ones are reported.
private final class Section {
    let table: TOMLTable
    let path: String
    unowned let walk: ConfigWalk
    private var used: Set<String> = []

    init(_ table: TOMLTable, path: String, walk: ConfigWalk) {
        self.table = table
        self.path = path
        self.walk = walk
    }

    var keys: [String] { table.keys }

    func keyPath(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    private func value(_ key: String) -> TOMLValue? {
        used.insert(key)
        return table[key]?.tomlValue
    }

    private func typeMismatch(_ key: String, expected: String, got value: TOMLValue) {
        walk.report(keyPath(key), "expected \(expected), got \(Section.describe(value))")
    }

    static func describe(_ value: TOMLValue) -> String {
        switch value.type {
        case .string: "\"\(value.string ?? "")\""
        case .int: "the integer \(value.int ?? 0)"
        case .bool: "\(value.bool ?? false)"
        case .double: "the number \(value.double ?? 0)"
        case .table: "a table"
        case .array: "an array"
        default: "a date/time"
        }
    }

    /// Reports every key of the table that no reader asked for.
    func finish() {
        for key in table.keys.sorted() where !used.contains(key) {
            walk.report(keyPath(key), "unknown key")
        }
    }

    func table(_ key: String) -> Section? {
        guard let v = value(key) else { return nil }
        guard let t = v.table else {
            typeMismatch(key, expected: "a table", got: v)
            return nil
        }
        return Section(t, path: keyPath(key), walk: walk)
    }

    func tableArray(_ key: String) -> [Section] {
        guard let v = value(key) else { return [] }
        guard let array = v.array else {
            typeMismatch(key, expected: "an array of tables ([[\(key)]])", got: v)
            return []
        }
        var sections: [Section] = []
        for (i, element) in array.enumerated() {
            if let t = element.table {
                sections.append(Section(t, path: "\(keyPath(key))[\(i)]", walk: walk))
            } else {
                walk.report("\(keyPath(key))[\(i)]", "expected a table, got \(Section.describe(element.tomlValue))")
            }
        }
        return sections
    }

    /// A string with `${NAME}` substituted; nil when absent or wrong (wrong is reported).
    private func substitutedString(_ key: String) -> String? {
        guard let v = value(key) else { return nil }
        return substituted(v, key: keyPath(key))
    }

    private func substituted(_ v: TOMLValue, key: String) -> String? {
        guard let s = v.string else {
            walk.report(key, "expected a string, got \(Section.describe(v))")
            return nil
        }
        switch ConfigValueParsers.substitutingEnvironment(s, walk.environment) {
        case .success(let out): return out
        case .failure(let m):
            walk.report(key, m.text)
            return nil
        }
    }

    func string(_ key: String, into target: inout String, nonEmpty: Bool = false) {
        guard let s = substitutedString(key) else { return }
        if nonEmpty && s.isEmpty {
            walk.report(keyPath(key), "must not be empty")
            return
        }
        target = s
    }

    func requiredString(_ key: String) -> String? {
        guard table[key] != nil else {
            walk.report(keyPath(key), "is required")
            return nil
        }
        guard let s = substitutedString(key) else { return nil }
        if s.isEmpty {
            walk.report(keyPath(key), "must not be empty")
            return nil
        }
        return s
    }

    func path(_ key: String, into target: inout String) {
        guard let s = substitutedString(key) else { return }
        guard s.hasPrefix("/"), !s.contains("?"), !s.contains(" ") else {
            walk.report(keyPath(key), "expected an absolute path such as \"/auth/login\", got \"\(s)\"")
            return
        }
        target = s
    }

    func headerName(_ key: String, into target: inout String, allowEmpty: Bool) {
        guard let s = substitutedString(key) else { return }
        if s.isEmpty && allowEmpty {
            target = s
            return
        }
        guard !s.isEmpty, s.utf8.allSatisfy(HTTPToken.isTokenByte) else {
            walk.report(keyPath(key), "expected an HTTP header name, got \"\(s)\"")
            return
        }
        target = s
    }

    func pointer(_ key: String, into target: inout JSONPointer) {
        guard let s = substitutedString(key) else { return }
        do {
            target = try JSONPointer(parsing: s)
        } catch {
            walk.report(keyPath(key), "\(error)")
        }
    }

    func bool(_ key: String, into target: inout Bool) {
        guard let v = value(key) else { return }
        guard let b = v.bool, v.type == .bool else {
            typeMismatch(key, expected: "true or false", got: v)
            return
        }
        target = b
    }

    /// Every duration is bounded (`ConfigBounds.duration` unless `max` is tighter), so none can overflow at run time.
    func duration(_ key: String, into target: inout Duration, positive: Bool = false, wholeSeconds: Bool = false,
                  max: Duration = ConfigBounds.duration) {
        guard let s = substitutedString(key) else { return }
        switch ConfigValueParsers.duration(s, max: max) {
        case .success(let d):
            if positive && d <= .zero {
                walk.report(keyPath(key), "must be longer than 0, got \"\(s)\"")
            } else if wholeSeconds && d.components.attoseconds != 0 {
                // Token times (exp, nbf, iat) are whole seconds: a fraction would silently round away.
                walk.report(keyPath(key), "must be a whole number of seconds, got \"\(s)\"")
            } else {
                target = d
            }
        case .failure(let m):
            walk.report(keyPath(key), m.text)
        }
    }

    func size(_ key: String, into target: inout Int, in range: ClosedRange<Int>) {
        guard let v = value(key) else { return }
        let result: Result<Int, ConfigMessage>
        if v.type == .int, let i = v.int {
            result = ConfigValueParsers.bounded(i, range, got: "\(i)", show: ConfigValueParsers.sizeText)
        } else if v.type == .string {
            guard let s = substituted(v, key: keyPath(key)) else { return }
            result = ConfigValueParsers.size(s, in: range)
        } else {
            typeMismatch(key, expected: "a size such as 16384 or \"16KiB\"", got: v)
            return
        }
        store(result, key, into: &target)
    }

    /// A TOML integer inside `range`.
    func integer(_ key: String, into target: inout Int?, in range: ClosedRange<Int>) {
        guard let v = value(key) else { return }
        guard v.type == .int, let i = v.int else {
            typeMismatch(key, expected: "an integer", got: v)
            return
        }
        store(ConfigValueParsers.bounded(i, range, got: "\(i)", show: { "\($0)" }).map(Optional.some), key, into: &target)
    }

    /// The value into `target`, or its problem reported.
    private func store<Value>(_ result: Result<Value, ConfigMessage>, _ key: String, into target: inout Value) {
        switch result {
        case .success(let v): target = v
        case .failure(let m): walk.report(keyPath(key), m.text)
        }
    }

    func listenAddress(_ key: String, into target: inout ListenAddress) {
        guard let s = substitutedString(key) else { return }
        switch ConfigValueParsers.listenAddress(s) {
        case .success(let a): target = a
        case .failure(let m): walk.report(keyPath(key), m.text)
        }
    }

    /// A value out of a fixed set, e.g. `auth = "required"`.
    func choice<Choice: RawRepresentable & CaseIterable>(_ key: String, into target: inout Choice) where Choice.RawValue == String {
        guard let s = substitutedString(key) else { return }
        guard let c = Choice(rawValue: s) else {
            let names = Choice.allCases.map(\.rawValue)
            let list = names.count <= 2
                ? names.joined(separator: " or ")
                : names.dropLast().joined(separator: ", ") + " or " + names.last!
            walk.report(keyPath(key), "expected \(list), got \"\(s)\"")
            return
        }
        target = c
    }

    func stringArray(_ key: String, required: Bool) -> [String]? {
        guard let v = value(key) else {
            if required { walk.report(keyPath(key), "is required") }
            return nil
        }
        guard let array = v.array else {
            typeMismatch(key, expected: "an array of strings", got: v)
            return nil
        }
        var out: [String] = []
        for (i, element) in array.enumerated() {
            if let s = substituted(element.tomlValue, key: "\(keyPath(key))[\(i)]") { out.append(s) }
        }
        return out
    }

    /// `{ role = ["admin", "staff"] }` or `{ role = "admin" }`: the values a claim may take.
    func claimValues(_ key: String) -> [ClaimValue]? {
        guard let v = value(key) else { return nil }
        let elements: [TOMLValue] = v.array.map { $0.map(\.tomlValue) } ?? [v]
        var out: [ClaimValue] = []
        for (i, element) in elements.enumerated() {
            let name = v.array == nil ? keyPath(key) : "\(keyPath(key))[\(i)]"
            switch element.type {
            case .string: if let s = substituted(element, key: name) { out.append(.string(s)) }
            case .int: out.append(.integer(Int(element.int ?? 0)))
            case .bool: out.append(.bool(element.bool ?? false))
            default: walk.report(name, "expected a string, integer or boolean, got \(Section.describe(element))")
            }
        }
        if out.isEmpty && v.array != nil { walk.report(keyPath(key), "needs at least one allowed value") }
        return out
    }
}

/// Finds the line a key path was written on, from the raw text (TOMLKit keeps no positions).
struct KeyLines: Sendable {
    private var lineOf: [String: Int] = [:]

    init(_ text: String) {
        var table = ""
        var arrayCounts: [String: Int] = [:]
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmingASCIISpaces()
            let number = index + 1
            if line.hasPrefix("[[") {
                let name = line.dropFirst(2).prefix(while: { $0 != "]" }).trimmingASCIISpaces()
                let i = arrayCounts[String(name), default: 0]
                arrayCounts[String(name)] = i + 1
                table = "\(name)[\(i)]"
                if lineOf[table] == nil { lineOf[table] = number }
            } else if line.hasPrefix("[") {
                table = String(line.dropFirst().prefix(while: { $0 != "]" }).trimmingASCIISpaces())
                if lineOf[table] == nil { lineOf[table] = number }
            } else if let eq = line.firstIndex(of: "="), !line.hasPrefix("#") {
                let key = line[..<eq].trimmingASCIISpaces().replacingOccurrences(of: "\"", with: "")
                guard !key.isEmpty else { continue }
                let path = table.isEmpty ? key : "\(table).\(key)"
                if lineOf[path] == nil { lineOf[path] = number }
            }
        }
    }

    /// The line of `key`, or of its closest enclosing key that has one (`targets[1]` → `targets`).
    func line(of key: String) -> Int? {
        var candidate = key
        while true {
            if let n = lineOf[candidate] { return n }
            if candidate.hasSuffix("]"), let open = candidate.lastIndex(of: "[") {
                candidate = String(candidate[..<open])
            } else if let dot = candidate.lastIndex(of: ".") {
                candidate = String(candidate[..<dot])
            } else {
                return nil
            }
        }
    }
}

/// Claim names the gateway sets itself; `auth.claims` may not overwrite them.
enum TokenClaimNames {
    static func reserved(userIdClaim: String) -> Set<String> {
        ["token_type", "exp", "iat", "nbf", "jti", "iss", "aud", "sub", "sid", userIdClaim]
    }
}

enum HTTPMethodNames {
    static let known: Set<String> = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"]
}
