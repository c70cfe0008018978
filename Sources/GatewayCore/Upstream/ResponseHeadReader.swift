import NIOHTTP1

/// Reads an upstream's response head one line at a time, status line first, interim (1xx) heads skipped, and
/// keeps the end-to-end fields only: hop-by-hop ones, and those a Connection header lists, never get in
/// (docs/http.md#forwarding). Works on the raw bytes: names are recognised before any String is made. curl's header
/// callback feeds a transfer's lines; a tunnel's (libcurl's connect-only mode parses nothing) come from `UpgradeResponseReader`.
struct ResponseHeadReader {
    /// What one line did.
    enum Step {
        case more
        /// The head is complete (the empty line after it was read).
        case complete(UpstreamResponseHead)
        /// The head must not reach the client; the exchange is aborted (the client gets 502).
        case violation(String)
    }

    /// How the body after a complete head is framed (RFC 9112 §6.3), for a reader that frames it itself.
    enum BodyFraming: Equatable {
        case none
        case length(Int)
        case chunked
        /// Until the upstream closes the connection.
        case untilClose
        /// A 101: what follows is the protocol switched to.
        case switched
    }

    /// The request asked to switch protocols (`Upgrade`): a 101 is then the answer, not a violation.
    let upgradeRequested: Bool
    private var status: HTTPResponseStatus?
    /// The head's end-to-end fields so far.
    private var fields: [(String, String)] = []
    /// Names the head's Connection header(s) list, dropped once the head is complete.
    private var listedByConnection: [String] = []
    private(set) var isComplete = false
    private var sawTransferEncoding = false
    /// The last transfer coding named so far is `chunked`.
    private var endsChunked = false
    private var contentLength: [UInt8]?
    private var conflictingContentLength = false
    /// The `Upgrade` field (a 101 names the protocol switched to there).
    private var upgrade: String?
    /// How the body is framed, once the head is complete.
    private(set) var framing = BodyFraming.untilClose

    init(upgradeRequested: Bool = false) {
        self.upgradeRequested = upgradeRequested
    }

    /// One line of the head, line end included or not.
    mutating func read(_ line: UnsafeRawBufferPointer) -> Step {
        guard !isComplete else { return .more }  // trailers
        var end = line.count
        while end > 0, line[end - 1] == UInt8(ascii: "\n") || line[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        if end == 0 { return headEnded() }
        let bytes = UnsafeRawBufferPointer(rebasing: line[0..<end])
        if bytes.starts(with: "HTTP/".utf8) {
            status = Self.status(ofStatusLine: bytes)
            startHead()
            return .more
        }
        guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")) else { return .more }
        let name = UnsafeRawBufferPointer(rebasing: bytes[..<colon])
        var valueStart = colon + 1
        while valueStart < bytes.count, bytes[valueStart].isASCIIBlank { valueStart += 1 }
        let value = UnsafeRawBufferPointer(rebasing: bytes[valueStart...])
        if HopByHop.isFixed(name) {
            noteHopByHop(name, value)
            return .more
        }
        // Not a field name (a token, RFC 9110 §5.1): dropped. HTTPHeaders would trap on a non-ASCII one, and a
        // name with spaces or separators is something the client's parser may read differently from ours.
        guard !name.isEmpty, name.allSatisfy(HTTPToken.isTokenByte) else { return .more }
        if name.count == 14 && name.equalsASCIIIgnoringCase("content-length") {
            noteContentLength(value)
        }
        fields.append((String(decoding: name, as: UTF8.self), Self.text(value)))
        return .more
    }

    /// CR or NUL inside a value (curl splits lines at LF) is replaced by SP, as RFC 9110 §5.5 asks: passed on as
    /// is, a bare CR ends the line for some clients (response splitting).
    private static func text(_ value: UnsafeRawBufferPointer) -> String {
        value.contains(where: { $0 == 0x0D || $0 == 0 })
            ? String(decoding: value.map { $0 == 0x0D || $0 == 0 ? UInt8(ascii: " ") : $0 }, as: UTF8.self)
            : String(decoding: value, as: UTF8.self)
    }

    private mutating func noteHopByHop(_ name: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) {
        if HopByHop.isConnection(name) {
            HopByHop.collectListed(inConnectionValue: value, into: &listedByConnection)
        } else if name.count == 17 && name.equalsASCIIIgnoringCase("transfer-encoding") {
            sawTransferEncoding = true
            let last = value.split(separator: UInt8(ascii: ",")).last.map { $0.trimmingASCIIBlanks() }
            endsChunked = last.map { $0.equalsASCIIIgnoringCase("chunked") } ?? false
        } else if upgradeRequested && name.count == 7 && name.equalsASCIIIgnoringCase("upgrade") {
            upgrade = Self.text(value)
        }
    }

    /// The empty line: the head is complete, or it was an interim one and the real head follows.
    private mutating func headEnded() -> Step {
        guard let status, status.code >= 200 || status.code == 101 else {
            self.status = nil
            startHead()
            return .more
        }
        if let violation = Self.framingViolation(
            status: status, upgradeRequested: upgradeRequested, conflictingContentLength: conflictingContentLength,
            sawTransferEncoding: sawTransferEncoding
        ) {
            return .violation(violation)
        }
        isComplete = true
        framing = bodyFraming(status)
        if sawTransferEncoding && contentLength != nil {
            // RFC 9112 §6.3: Transfer-Encoding overrides Content-Length, which must then be removed; the body is
            // decoded, and the client gets it framed anew.
            fields.removeAll { $0.0.utf8.count == 14 && $0.0.utf8.equalsASCIIIgnoringCase("content-length") }
        }
        if !listedByConnection.isEmpty {
            let listed = listedByConnection
            fields.removeAll { HopByHop.isHopByHop($0.0.utf8, listed: listed) }
        }
        if status.code == 101 {
            // The switch is this hop's too: the client is told which protocol follows (RFC 9110 §7.8).
            guard let upgrade, !upgrade.isEmpty else { return .violation("upstream switched protocols without naming one") }
            fields.append(("Connection", "Upgrade"))
            fields.append(("Upgrade", upgrade))
        }
        let head = UpstreamResponseHead(status: status, headers: HTTPHeaders(fields))
        fields = []  // the head owns the fields now (no copy when the handler adds to them)
        return .complete(head)
    }

    private mutating func startHead() {
        fields.removeAll(keepingCapacity: true)
        fields.reserveCapacity(16)
        listedByConnection.removeAll()
        sawTransferEncoding = false
        endsChunked = false
        contentLength = nil
        conflictingContentLength = false
        upgrade = nil
    }

    /// RFC 9112 §6.3, for a response to a GET (the only request that reads its own response's framing).
    private func bodyFraming(_ status: HTTPResponseStatus) -> BodyFraming {
        if status.code == 101 { return .switched }
        if status.code == 204 || status.code == 304 { return .none }
        if sawTransferEncoding { return endsChunked ? .chunked : .untilClose }
        if let contentLength, let n = Int(String(decoding: contentLength, as: UTF8.self)) { return n == 0 ? .none : .length(n) }
        return .untilClose
    }

    /// One Content-Length field (it may itself be a list, RFC 9110 §8.6): every value must be the same digits.
    private mutating func noteContentLength(_ value: UnsafeRawBufferPointer) {
        for part in value.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false) {
            let digits = part.trimmingASCIIBlanks()
            guard !digits.isEmpty, digits.count <= 18, digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
                conflictingContentLength = true
                return
            }
            if let known = contentLength {
                if !known.elementsEqual(digits) { conflictingContentLength = true }
            } else {
                contentLength = Array(digits)
            }
        }
    }

    /// Why a complete response head must not reach the client, if it must not (RFC 9112 §6.3): a message
    /// whose length the client could read differently from curl desyncs the client's connection.
    static func framingViolation(status: HTTPResponseStatus, upgradeRequested: Bool, conflictingContentLength: Bool,
                                 sawTransferEncoding: Bool) -> String? {
        if status.code == 101 && !upgradeRequested {
            // No upgrade was asked for: what follows is another protocol, and no HTTP response.
            return "upstream switched protocols unasked (101)"
        }
        if conflictingContentLength && !sawTransferEncoding {
            return "upstream sent conflicting or invalid Content-Length"
        }
        return nil
    }

    /// "HTTP/1.1 200 OK": the code is the second field; a code outside the standard set keeps its reason phrase.
    static func status(ofStatusLine line: UnsafeRawBufferPointer) -> HTTPResponseStatus {
        let space = UInt8(ascii: " ")
        var codeStart = line.firstIndex(of: space) ?? line.endIndex
        while codeStart < line.endIndex, line[codeStart] == space { codeStart += 1 }
        let codeEnd = line[codeStart...].firstIndex(of: space) ?? line.endIndex
        let digits = line[codeStart..<codeEnd]
        guard (1...18).contains(digits.count), digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            return HTTPResponseStatus(statusCode: 502)
        }
        let code = digits.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
        let status = HTTPResponseStatus(statusCode: code)
        guard case .custom = status else { return status }
        let fields = line.split(separator: space, maxSplits: 2, omittingEmptySubsequences: true)
        return HTTPResponseStatus(statusCode: code, reasonPhrase: fields.count > 2 ? String(decoding: fields[2], as: UTF8.self) : "")
    }
}

extension Slice where Base == UnsafeRawBufferPointer {
    /// Without the spaces and tabs at either end.
    func trimmingASCIIBlanks() -> Slice<UnsafeRawBufferPointer> {
        var trimmed = self
        while let first = trimmed.first, first.isASCIIBlank { trimmed = trimmed.dropFirst() }
        while let last = trimmed.last, last.isASCIIBlank { trimmed = trimmed.dropLast() }
        return trimmed
    }
}
