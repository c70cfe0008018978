import NIOCore

/// What the access log line and the metrics say about one request (docs/operations.md#metrics, docs/operations.md#access-log-and-request-ids), filled in by the
/// connection as the request goes through its stages. Only what may be logged goes in: never a query, a token,
/// a body, or an Authorization, Cookie or Set-Cookie value.
struct RequestRecord {
    var started: NIODeadline
    var requestID: String
    var method: String?
    /// The request target as sent; only its path (`path(of:)`) is ever logged.
    var uri: String?
    /// The `route` label: a route's path, a gateway endpoint's path, or `none`.
    var route: RouteMetrics?
    var auth: GatewayMetrics.AuthLabel?
    var userID: String?
    var sessionID: String?
    var renewed = false
    var upstream: (name: String, metrics: UpstreamMetrics)?
    var upstreamStarted: NIODeadline?
    var upstreamStatus: Int?
    var upstreamElapsed: Duration?
    /// The response status written, once its head went out.
    var status: Int?
    var bytesSent = 0
    var bytesReceived = 0
    /// The §5.2 code when the gateway answered an error itself.
    var error: String?

    init(started: NIODeadline, requestID: String) {
        self.started = started
        self.requestID = requestID
    }

    /// The path of a request target: up to its `?`.
    static func path(of uri: String) -> String {
        guard let query = uri.utf8.firstIndex(of: UInt8(ascii: "?")) else { return uri }
        return String(uri[..<query])
    }

    /// The identity an auth outcome names.
    mutating func note(_ outcome: AuthOutcome) {
        switch outcome {
        case .authenticated(let identity):
            note(identity)
        case .renewed(let identity, _):
            note(identity)
            renewed = true
        case .denied(_, let renewedToken):
            if renewedToken != nil { renewed = true }
        case .anonymous:
            break
        }
    }

    private mutating func note(_ identity: Identity) {
        userID = identity.claims.subject
        sessionID = identity.claims.sessionID
    }

    /// The request is over (answered, its tunnel closed, or its connection closed under it): its metrics and its
    /// log line. A request whose client left before a response head is counted as 499, as nginx logs it; an
    /// upstream transfer it leaves unfinished counts as aborted.
    func finish(remoteAddress: String?, accessLog: AccessLog, at now: NIODeadline = .now()) {
        var record = self
        if record.upstream != nil, record.upstreamStatus == nil, record.error == nil { record.upstream?.metrics.count(.aborted) }
        if record.status == nil { record.status = 499 }
        record.route?.finished(status: record.status ?? 499, after: Duration(now - record.started))
        if accessLog.isEnabled { accessLog.append(record.line(remoteAddress: remoteAddress, endedAt: now)) }
    }

    /// The access log line: one JSON object, every key of §7.2 present (`null` where it does not apply), and a
    /// newline.
    func line(remoteAddress: String?, endedAt now: NIODeadline, wallClock: UnixTime = WallClock.system.now()) -> [UInt8] {
        var out = JSONLine()
        out.key("time", first: true)
        out.string(wallClock.rfc3339Milliseconds)
        out.key("request_id")
        out.string(requestID)
        out.key("remote_addr")
        out.string(remoteAddress)
        out.key("method")
        out.string(method)
        out.key("path")
        out.string(uri.map(Self.path(of:)))
        out.key("route")
        out.string(route?.label ?? "none")
        out.key("status")
        out.integer(status)
        out.key("auth")
        out.string(auth?.name)
        out.key("user_id")
        out.string(userID)
        out.key("sid")
        out.string(sessionID)
        out.key("renewed")
        out.raw(renewed ? "true" : "false")
        out.key("upstream")
        out.string(upstream?.name)
        out.key("upstream_status")
        out.integer(upstreamStatus)
        out.key("duration_ms")
        out.milliseconds(Duration(now - started))
        out.key("upstream_ms")
        if let upstreamElapsed { out.milliseconds(upstreamElapsed) } else { out.raw("null") }
        out.key("bytes_sent")
        out.integer(bytesSent)
        out.key("bytes_received")
        out.integer(bytesReceived)
        out.key("error")
        out.string(error)
        out.bytes.append(contentsOf: "}\n".utf8)
        return out.bytes
    }
}

/// A JSON object written straight into bytes: the access log's one line per request, without an encoder.
struct JSONLine {
    var bytes: [UInt8] = []

    init() {
        bytes.reserveCapacity(512)
        bytes.append(UInt8(ascii: "{"))
    }

    mutating func key(_ name: StaticString, first: Bool = false) {
        if !first { bytes.append(UInt8(ascii: ",")) }
        bytes.append(UInt8(ascii: "\""))
        bytes.append(contentsOf: UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
        bytes.append(contentsOf: "\":".utf8)
    }

    mutating func raw(_ text: String) { bytes.append(contentsOf: text.utf8) }

    mutating func integer(_ value: Int?) {
        guard let value else { return raw("null") }
        raw(String(value))
    }

    /// Milliseconds with microsecond precision, e.g. `12.345`.
    mutating func milliseconds(_ duration: Duration) {
        let microseconds = max(0, duration.components.seconds * 1_000_000 + duration.components.attoseconds / 1_000_000_000_000)
        raw(String(microseconds / 1000))
        let fraction = microseconds % 1000
        bytes.append(UInt8(ascii: "."))
        bytes.append(UInt8(ascii: "0") + UInt8(fraction / 100))
        bytes.append(UInt8(ascii: "0") + UInt8(fraction / 10 % 10))
        bytes.append(UInt8(ascii: "0") + UInt8(fraction % 10))
    }

    /// A JSON string; nil is `null`.
    mutating func string(_ value: String?) {
        guard let value else { return raw("null") }
        JSONText.appendQuoted(value, to: &bytes)
    }
}
