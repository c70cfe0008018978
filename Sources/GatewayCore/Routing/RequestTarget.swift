/// The request target split into the path used for routing and the query passed on byte for byte.
public struct RequestTarget: Sendable, Equatable {
    /// The path after RFC 3986 dot-segment removal; percent-encoded bytes are left as they came.
    public let path: Substring
    /// Everything after the first `?` (without it), or nil when the target had no `?`.
    public let query: Substring?

    /// Parses an origin-form (`/a/b?x`) or absolute-form (`http://host/a/b?x`) target.
    /// Throws `bad_request` for other forms, fragments, control bytes, or a path that climbs above `/`.
    public init(parsing uri: String) throws(GatewayError) {
        // Byte-wise throughout (every request comes here): Character operations would run grapheme breaking.
        var rest = Substring(uri)
        if rest.utf8.first != UInt8(ascii: "/") {
            // absolute-form, as sent to proxies: keep only the path and query
            guard let schemeEnd = rest.range(of: "://"),
                  rest[..<schemeEnd.lowerBound].lowercased() == "http" || rest[..<schemeEnd.lowerBound].lowercased() == "https"
            else { throw .badRequest }
            let afterScheme = rest[schemeEnd.upperBound...]
            guard let slash = afterScheme.firstIndex(where: { $0 == "/" || $0 == "?" }) else {
                rest = "/"
                self.path = rest
                self.query = nil
                return
            }
            rest = afterScheme[slash...]
            if rest.hasPrefix("?") { rest = "/" + rest }
        }
        // Control bytes, spaces, fragments, and backslashes (some upstreams read `\` as `/`, which would
        // route `/public/..\api` past `/api/`'s auth) are refused.
        for byte in rest.utf8 where byte <= 0x20 || byte == 0x7F || byte == UInt8(ascii: "#") || byte == UInt8(ascii: "\\") {
            throw .badRequest
        }
        let rawPath: Substring
        if let q = rest.utf8.firstIndex(of: UInt8(ascii: "?")) {
            rawPath = rest[..<q]
            self.query = rest[rest.utf8.index(after: q)...]
        } else {
            rawPath = rest
            self.query = nil
        }
        self.path = try RequestTarget.removingDotSegments(rawPath)
    }

    /// RFC 3986 §5.2.4 on an absolute path, except that climbing above `/` is an error rather than clamped.
    static func removingDotSegments(_ path: Substring) throws(GatewayError) -> Substring {
        // Fast path: without "/." there is no dot segment, and no allocation is needed.
        if !path.utf8.containsDotSegmentMarker { return path }
        var output: [Substring] = []
        var trailingSlash = false
        // Split on the byte '/', not by Character: a combining mark after a '/' must not hide the separator
        // (by Character, "/\u{301}" is one grapheme and the segment would silently vanish).
        let segments = path.utf8.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).dropFirst()
        for (i, segment) in segments.enumerated() {
            let isLast = i == segments.count - 1
            if segment.elementsEqual(".".utf8) {
                trailingSlash = isLast
            } else if segment.elementsEqual("..".utf8) {
                guard !output.isEmpty else { throw .badRequest }
                output.removeLast()
                trailingSlash = isLast
            } else {
                output.append(Substring(segment))
                trailingSlash = false
            }
        }
        var result = "/" + output.joined(separator: "/")
        if trailingSlash && !output.isEmpty { result += "/" }
        return Substring(result)
    }
}

extension Substring.UTF8View {
    fileprivate var containsDotSegmentMarker: Bool {
        var previousWasSlash = false
        for byte in self {
            if previousWasSlash && byte == UInt8(ascii: ".") { return true }
            previousWasSlash = byte == UInt8(ascii: "/")
        }
        return false
    }
}
