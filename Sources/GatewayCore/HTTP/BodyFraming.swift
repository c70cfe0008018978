import NIOHTTP1

/// How a request body is framed, from its headers (RFC 9112 §6.3), with smuggling shapes rejected.
enum BodyFraming: Equatable {
    case none
    case length(Int)
    case chunked
    case invalid

    static func of(_ headers: HTTPHeaders) -> BodyFraming {
        let lengths = headers["content-length"].flatMap {
            $0.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingASCIISpaces() }
        }
        let encodings = headers["transfer-encoding"]
        if !encodings.isEmpty {
            // Content-Length with Transfer-Encoding is a smuggling shape; only plain "chunked" is accepted.
            guard lengths.isEmpty else { return .invalid }
            let codings = encodings.flatMap { $0.split(separator: ",").map { $0.trimmingASCIISpaces().lowercased() } }
            return codings == ["chunked"] ? .chunked : .invalid
        }
        guard let first = lengths.first else { return .none }
        guard lengths.allSatisfy({ $0 == first }), first.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let n = Int(first) else {
            return .invalid
        }
        return n == 0 ? .none : .length(n)
    }
}
