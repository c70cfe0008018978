/// Recognises HTTP/2 with prior knowledge on a plaintext listener (RFC 9113 §3.3): a client that knows the server
/// speaks HTTP/2 opens with a fixed 24-byte preface, which no HTTP/1.1 request can start with.
enum HTTP2Preface {
    /// "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
    static let bytes: [UInt8] = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    enum Verdict: Equatable {
        /// The connection opened with the preface: HTTP/2.
        case http2
        /// Anything else: HTTP/1.1 (its parser judges the bytes).
        case http1
        /// What arrived so far is a proper prefix of the preface: read more.
        case undecided
    }

    /// The verdict on the first bytes of a connection.
    static func classify<Bytes: Collection<UInt8>>(_ received: Bytes) -> Verdict {
        for (offset, byte) in received.prefix(bytes.count).enumerated() where byte != bytes[offset] {
            return .http1
        }
        return received.count >= bytes.count ? .http2 : .undecided
    }
}
