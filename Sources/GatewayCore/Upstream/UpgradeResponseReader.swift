/// The upstream's answer to an upgrade request, read from the raw bytes of a connect-only connection (libcurl parses
/// nothing there): the head line by line through `ResponseHeadReader`, then the body as the head frames it. After a
/// 101 every byte is the tunnel's; after any other answer the body is decoded (Content-Length, chunked, or until
/// the upstream closes) and the exchange ends with it, as an ordinary response would (docs/http.md#websocket).
struct UpgradeResponseReader {
    struct Violation: Error, Equatable {
        let reason: String
    }

    /// A head larger than this is refused (the gateway's own limit on what it holds of an upstream head).
    static let maxHeadBytes = 64 * 1024

    private enum Body {
        case switched
        case length(remaining: Int)
        case chunked(ChunkedBodyDecoder)
        case untilClose
        case done
    }

    private var head = ResponseHeadReader(upgradeRequested: true)
    /// A head line cut by a read, waiting for its end.
    private var partialLine: [UInt8] = []
    private var headBytes = 0
    /// nil while the head is read.
    private var body: Body?

    /// Reads the next bytes from upstream: the head (complete, it goes to `onHead`), then body bytes to `onBody`.
    /// Returns true when the response is complete: a body that ended, or a head without one.
    mutating func read(_ bytes: UnsafeRawBufferPointer, onHead: (UpstreamResponseHead) -> Void,
                       onBody: (UnsafeRawBufferPointer) -> Void) throws(Violation) -> Bool {
        var rest = bytes[...]
        if body == nil {
            rest = try readHead(rest, onHead: onHead)
            guard body != nil else { return false }
        }
        return try readBody(UnsafeRawBufferPointer(rebasing: rest), onBody: onBody)
    }

    /// The answer was a 101: what follows is the tunnel's.
    var hasSwitched: Bool {
        if case .switched? = body { return true }
        return false
    }

    /// Whether an upstream that closes now has ended its response properly (a tunnel, or a body read until close).
    var isCompleteAtClose: Bool {
        switch body {
        case .switched?, .untilClose?, .done?: true
        case .length?, .chunked?, nil: false
        }
    }

    /// Feeds whole lines to `head` until it is complete; returns the bytes after the head.
    private mutating func readHead(_ bytes: Slice<UnsafeRawBufferPointer>, onHead: (UpstreamResponseHead) -> Void) throws(Violation) -> Slice<UnsafeRawBufferPointer> {
        var rest = bytes
        while let newline = rest.firstIndex(of: UInt8(ascii: "\n")) {
            let lineEnd = rest.index(after: newline)
            headBytes += lineEnd - rest.startIndex
            guard headBytes <= Self.maxHeadBytes else { throw Violation(reason: "upstream response head too large") }
            let step: ResponseHeadReader.Step
            if partialLine.isEmpty {
                step = head.read(UnsafeRawBufferPointer(rebasing: rest[..<lineEnd]))
            } else {
                var line: [UInt8] = []
                swap(&line, &partialLine)
                line.append(contentsOf: rest[..<lineEnd])
                step = line.withUnsafeBytes { head.read($0) }
                line.removeAll(keepingCapacity: true)
                swap(&line, &partialLine)
            }
            rest = rest[lineEnd...]
            switch step {
            case .more:
                continue
            case .violation(let reason):
                throw Violation(reason: reason)
            case .complete(let complete):
                body = Self.body(framed: head.framing)
                partialLine = []
                onHead(complete)
                return rest
            }
        }
        headBytes += rest.count
        guard headBytes <= Self.maxHeadBytes else { throw Violation(reason: "upstream response head too large") }
        partialLine.append(contentsOf: rest)
        return rest[rest.endIndex...]
    }

    private static func body(framed framing: ResponseHeadReader.BodyFraming) -> Body {
        switch framing {
        case .none: .done
        case .length(let n): .length(remaining: n)
        case .chunked: .chunked(ChunkedBodyDecoder())
        case .untilClose: .untilClose
        case .switched: .switched
        }
    }

    private mutating func readBody(_ bytes: UnsafeRawBufferPointer, onBody: (UnsafeRawBufferPointer) -> Void) throws(Violation) -> Bool {
        switch body {
        case .switched?, .untilClose?:
            if !bytes.isEmpty { onBody(bytes) }
            return false
        case .length(let remaining)?:
            let n = min(remaining, bytes.count)
            if n > 0 { onBody(UnsafeRawBufferPointer(rebasing: bytes[0..<n])) }
            body = remaining == n ? .done : .length(remaining: remaining - n)
            return remaining == n
        case .chunked(var decoder)?:
            body = .done  // not copied while it decodes
            do {
                _ = try decoder.decode(bytes, payload: onBody)
            } catch {
                throw Violation(reason: "upstream sent a malformed chunked body: \(error.reason)")
            }
            body = decoder.isDone ? .done : .chunked(decoder)
            return decoder.isDone
        case .done?, nil:
            return true
        }
    }
}
