/// Parsers for the scalar forms `gateway.conf` uses: durations, sizes, `${NAME}` substitution, addresses.
/// Each returns a message (without file or key) on failure; `ConfigReader` adds the location.
enum ConfigValueParsers {
    /// `"500ms"`, `"30s"`, `"10m"`, `"12h"`, `"14d"` (also `"0s"`), at most `max`.
    static func duration(_ text: String, max: Duration = ConfigBounds.duration) -> Result<Duration, ConfigMessage> {
        let digits = text.prefix(while: { $0.isASCII && $0.isNumber })
        let unit = text.dropFirst(digits.count)
        guard !digits.isEmpty, let unitMilliseconds = durationUnits.first(where: { $0.suffix == unit })?.milliseconds else {
            return .failure(.init("expected a duration such as \"500ms\", \"30s\", \"10m\", \"12h\" or \"14d\", got \"\(text)\""))
        }
        // Too many digits for Int64, or a product past it, is simply too large: nil fails the bound below.
        let milliseconds = Int64(digits).flatMap { nonOverflowing($0.multipliedReportingOverflow(by: unitMilliseconds)) }
        return bounded(milliseconds.map(Duration.milliseconds), .zero...max, got: "\"\(text)\"", show: durationText)
    }

    /// Duration units, largest first (the order `durationText` picks from).
    private static let durationUnits: [(suffix: Substring, milliseconds: Int64)] = [
        ("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1),
    ]

    /// `duration` in the largest unit that divides it exactly: `.seconds(86400)` → `"1d"`.
    static func durationText(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let milliseconds = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        let unit = durationUnits.first { milliseconds % $0.milliseconds == 0 } ?? ("ms", 1)
        return "\(milliseconds / unit.milliseconds)\(unit.suffix)"
    }

    /// An integer number of bytes, or `"512KiB"`, `"10MiB"`, `"1GiB"`, `"1TiB"`, `"100KB"`, `"2MB"`, `"100B"`,
    /// inside `range`.
    static func size(_ text: String, in range: ClosedRange<Int>) -> Result<Int, ConfigMessage> {
        let digits = text.prefix(while: { $0.isASCII && $0.isNumber })
        let unit = text.dropFirst(digits.count).trimmingASCIISpaces()
        guard !digits.isEmpty, let multiplier = sizeUnits.first(where: { $0.suffix == unit })?.bytes else {
            return .failure(.init("expected a size in bytes or such as \"512KiB\" or \"10MiB\", got \"\(text)\""))
        }
        // As for durations: overflow is a value past any bound.
        let bytes = Int(digits).flatMap { nonOverflowing($0.multipliedReportingOverflow(by: multiplier)) }
        return bounded(bytes, range, got: "\"\(text)\"", show: sizeText)
    }

    /// Size units; the binary ones come first, largest first (the order `sizeText` picks from).
    private static let sizeUnits: [(suffix: Substring, bytes: Int)] = [
        ("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10),
        ("TB", 1_000_000_000_000), ("GB", 1_000_000_000), ("MB", 1_000_000), ("KB", 1000), ("B", 1), ("", 1),
    ]

    /// `bytes` in the largest binary unit that divides it exactly (`1048576` → `"1MiB"`), else as a plain number.
    static func sizeText(_ bytes: Int) -> String {
        guard bytes != 0, let unit = sizeUnits.prefix(4).first(where: { bytes % $0.bytes == 0 }) else { return "\(bytes)" }
        return "\(bytes / unit.bytes)\(unit.suffix)"
    }

    /// `value` when it lies in `range`; otherwise `must be at least/at most <bound>, got <got>`.
    /// A nil `value` stands for one too large to represent, so it is reported against the upper bound.
    static func bounded<Value: Comparable>(
        _ value: Value?, _ range: ClosedRange<Value>, got: String, show: (Value) -> String
    ) -> Result<Value, ConfigMessage> {
        guard let value, value <= range.upperBound else {
            return .failure(.init("must be at most \(show(range.upperBound)), got \(got)"))
        }
        guard value >= range.lowerBound else {
            return .failure(.init("must be at least \(show(range.lowerBound)), got \(got)"))
        }
        return .success(value)
    }

    private static func nonOverflowing<Value>(_ result: (partialValue: Value, overflow: Bool)) -> Value? {
        result.overflow ? nil : result.partialValue
    }

    /// Replaces `${NAME}` with the environment variable NAME; `$$` and a lone `$` are a literal `$`.
    static func substitutingEnvironment(_ text: String, _ environment: [String: String]) -> Result<String, ConfigMessage> {
        guard text.contains("$") else { return .success(text) }
        var out = ""
        var i = text.startIndex
        while i < text.endIndex {
            let c = text[i]
            guard c == "$" else {
                out.append(c)
                i = text.index(after: i)
                continue
            }
            let next = text.index(after: i)
            if next < text.endIndex, text[next] == "$" {
                out.append("$")
                i = text.index(after: next)
            } else if next < text.endIndex, text[next] == "{" {
                let nameStart = text.index(after: next)
                guard let close = text[nameStart...].firstIndex(of: "}") else {
                    return .failure(.init("unclosed \"${\" in \"\(text)\""))
                }
                let name = String(text[nameStart..<close])
                guard !name.isEmpty else { return .failure(.init("empty variable name \"${}\" in \"\(text)\"")) }
                guard let value = environment[name] else {
                    return .failure(.init("environment variable \(name) is not set"))
                }
                out += value
                i = text.index(after: close)
            } else {
                out.append("$")
                i = next
            }
        }
        return .success(out)
    }

    /// `host:port`, `[v6]:port`.
    static func listenAddress(_ text: String) -> Result<ListenAddress, ConfigMessage> {
        let failure = ConfigMessage("expected host:port such as \"127.0.0.1:8080\", got \"\(text)\"")
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else {
                return .failure(failure)
            }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":") else { return .failure(failure) }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        guard !host.isEmpty, let port = Int(portText), (0...65535).contains(port) else { return .failure(failure) }
        return .success(ListenAddress(host: String(host), port: port))
    }

    /// `http://host[:port][/base]` or `https://…`.
    static func upstreamTarget(_ text: String) -> Result<UpstreamTarget, ConfigMessage> {
        let scheme: String
        if text.hasPrefix("http://") {
            scheme = "http"
        } else if text.hasPrefix("https://") {
            scheme = "https"
        } else {
            return .failure(.init("expected an http:// or https:// URL, got \"\(text)\""))
        }
        let rest = text.dropFirst(scheme.count + 3)
        let authority = rest.prefix(while: { $0 != "/" && $0 != "?" && $0 != "#" })
        var basePath = String(rest.dropFirst(authority.count))
        guard !authority.isEmpty, !authority.contains("@"), !authority.contains(" ") else {
            return .failure(.init("expected an http:// or https:// URL with a host, got \"\(text)\""))
        }
        guard !basePath.contains("?"), !basePath.contains("#") else {
            return .failure(.init("a target URL cannot carry a query or fragment, got \"\(text)\""))
        }
        while basePath.hasSuffix("/") { basePath.removeLast() }
        return .success(UpstreamTarget(scheme: scheme, authority: String(authority), basePath: basePath))
    }

    /// Why `text` is not a browser origin as `Origin` headers spell it (`scheme://host[:port]`, http or https, lower
    /// case, no path), or nil when it is one. "*" is refused: the refresh cookie is never shared with any origin.
    static func originProblem(_ text: String) -> String? {
        if text == "*" {
            return "list each origin (\"https://app.example.com\"): \"*\" would let any site use a signed-in user's refresh cookie"
        }
        let example = "expected an origin such as \"https://app.example.com\" or \"http://localhost:3000\", got \"\(text)\""
        let scheme: String
        if text.hasPrefix("https://") { scheme = "https://" } else if text.hasPrefix("http://") { scheme = "http://" } else { return example }
        let authority = text.dropFirst(scheme.count)
        guard !authority.isEmpty, authority == authority.lowercased(),
              authority.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-.:[]".contains($0)) }) else { return example }
        if let colon = authority.lastIndex(of: ":"), !authority.hasSuffix("]") {
            guard let port = Int(authority[authority.index(after: colon)...]), (1...65535).contains(port),
                  colon != authority.startIndex else { return example }
        }
        return nil
    }
}

/// The widest values `gateway.conf` accepts (docs/configuration.md is silent; listed in the README): generous for any real
/// setting, and small enough that no accepted value can overflow where the gateway turns it into nanoseconds
/// (NIO `TimeAmount`, 2^63 ns ≈ 292 years), adds it to a clock reading (deadlines, token and session expiry in ms)
/// or counts bytes in an Int64.
enum ConfigBounds {
    /// Every duration (TTLs, windows, leeway): 3650 days.
    static let duration: Duration = .seconds(3650 * 86400)
    /// Every `*_timeout` key: a day. A longer timeout is a mistake, not a setting.
    static let timeout: Duration = .seconds(24 * 3600)
    /// `server.max_header_bytes`: 1KiB (less refuses ordinary browser requests) to 1MiB.
    static let headerBytes = (1 << 10)...(1 << 20)
    /// `server.max_body_bytes`: 1 byte to 1TiB.
    static let bodyBytes = 1...(1 << 40)
    /// `server.max_connections`.
    static let connections = 1...1_000_000
}

/// A problem's text without its location.
struct ConfigMessage: Error, Sendable, Equatable {
    let text: String
    init(_ text: String) { self.text = text }
}
