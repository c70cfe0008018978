/// Parsers for the scalar forms `gateway.conf` uses: durations, sizes, `${NAME}` substitution, addresses.
/// Each returns a message (without file or key) on failure; `ConfigReader` adds the location.
enum ConfigValueParsers {
    /// `"500ms"`, `"30s"`, `"10m"`, `"12h"`, `"14d"` (also `"0s"`).
    static func duration(_ text: String) -> Result<Duration, ConfigMessage> {
        let digits = text.prefix(while: { $0.isASCII && $0.isNumber })
        let unit = text.dropFirst(digits.count)
        guard !digits.isEmpty, let amount = Int64(digits) else {
            return .failure(.init("expected a duration such as \"500ms\", \"30s\", \"10m\", \"12h\" or \"14d\", got \"\(text)\""))
        }
        let seconds: Int64
        switch unit {
        case "ms": return .success(.milliseconds(amount))
        case "s": seconds = 1
        case "m": seconds = 60
        case "h": seconds = 3600
        case "d": seconds = 86400
        default:
            return .failure(.init("expected a duration such as \"500ms\", \"30s\", \"10m\", \"12h\" or \"14d\", got \"\(text)\""))
        }
        let (total, overflow) = amount.multipliedReportingOverflow(by: seconds)
        guard !overflow, total < Int64(1) << 40 else { return .failure(.init("duration \"\(text)\" is too large")) }
        return .success(.seconds(total))
    }

    /// An integer number of bytes, or `"512KiB"`, `"10MiB"`, `"1GiB"`, `"100KB"`, `"2MB"`, `"100B"`.
    static func size(_ text: String) -> Result<Int, ConfigMessage> {
        let digits = text.prefix(while: { $0.isASCII && $0.isNumber })
        let unit = text.dropFirst(digits.count).trimmingASCIISpaces()
        let multiplier: Int
        switch unit {
        case "", "B": multiplier = 1
        case "KiB": multiplier = 1 << 10
        case "MiB": multiplier = 1 << 20
        case "GiB": multiplier = 1 << 30
        case "KB": multiplier = 1000
        case "MB": multiplier = 1_000_000
        case "GB": multiplier = 1_000_000_000
        default: multiplier = 0
        }
        guard !digits.isEmpty, multiplier > 0, let amount = Int(digits) else {
            return .failure(.init("expected a size in bytes or such as \"512KiB\" or \"10MiB\", got \"\(text)\""))
        }
        let (total, overflow) = amount.multipliedReportingOverflow(by: multiplier)
        guard !overflow else { return .failure(.init("size \"\(text)\" is too large")) }
        return .success(total)
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
}

/// A problem's text without its location.
struct ConfigMessage: Error, Sendable, Equatable {
    let text: String
    init(_ text: String) { self.text = text }
}
