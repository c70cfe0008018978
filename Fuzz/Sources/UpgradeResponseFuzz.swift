import NIOHTTP1

/// The upstream's answer to a WebSocket upgrade, read from raw bytes by the tunnel (Upstream/UpgradeResponseReader,
/// Upstream/ResponseHeadReader, HTTP/ChunkedBodyDecoder). The first byte picks the check:
///
/// - even: any bytes as the upstream's answer, read in pieces of `byte / 2 + 1` bytes and in one piece. The
///   outcome does not depend on how reads cut the bytes (the head, the body bytes handed on, completion, the
///   refusal, `isCompleteAtClose`); a head handed on has no hop-by-hop field but a 101's own `Connection: Upgrade`
///   and `Upgrade` (then non-empty), no CR, LF or NUL in a value; no more body bytes come out than went in.
/// - odd: a chunked body written here from the input (chunk sizes and payload bytes, extensions, CRLF or bare LF,
///   trailers) decodes, in pieces, to exactly its payload, ends exactly at its last byte, and leaves what follows.
enum UpgradeResponseFuzz {
    struct Outcome: Equatable {
        var status: UInt?
        var headers: [String] = []
        var body: [UInt8] = []
        var complete = false
        var refused: String?
        var completeAtClose = false
    }

    static func run(_ bytes: [UInt8]) {
        var input = FuzzReader(bytes)
        let mode = input.byte()
        if mode & 1 == 0 {
            answer(Array(input.remaining()), piece: Int(mode / 2) + 1)
        } else {
            chunked(&input, piece: Int(mode / 2) + 1)
        }
    }

    static func read(_ wire: [UInt8], piece: Int) -> Outcome {
        var reader = UpgradeResponseReader()
        var outcome = Outcome()
        var start = 0
        repeat {
            let end = min(start + piece, wire.count)
            do {
                let done = try wire[start..<end].withUnsafeBytes { part in
                    try reader.read(part, onHead: { head in
                        outcome.status = head.status.code
                        outcome.headers = head.headers.map { "\($0.name): \($0.value)" }
                    }, onBody: { outcome.body.append(contentsOf: $0) })
                }
                outcome.complete = outcome.complete || done
            } catch {
                outcome.refused = (error as? UpgradeResponseReader.Violation)?.reason ?? "\(error)"
                break
            }
            start = end
        } while start < wire.count
        outcome.completeAtClose = reader.isCompleteAtClose
        return outcome
    }

    static func answer(_ wire: [UInt8], piece: Int) {
        let whole = read(wire, piece: max(wire.count, 1))
        let pieces = read(wire, piece: piece)
        // A refusal may come at a different read (the head bound is checked per line), never a different verdict.
        fuzzCheck((whole.refused == nil) == (pieces.refused == nil), "refused \(whole.refused ?? "-") whole, \(pieces.refused ?? "-") in pieces of \(piece)")
        if whole.refused == nil {
            fuzzCheck(whole == pieces, "in one piece \(whole), in pieces of \(piece) \(pieces)")
        }
        fuzzCheck(whole.body.count <= wire.count, "\(whole.body.count) body bytes out of \(wire.count) in")
        guard whole.status != nil else { return }
        for line in whole.headers {
            let name = line.prefix { $0 != ":" }
            let value = line.dropFirst(name.count + 2)
            fuzzCheck(!value.utf8.contains { $0 == 0x0D || $0 == 0x0A || $0 == 0 }, "a control byte in \(line.debugDescription)")
            let hopByHop = HeaderLinesFuzz.isFixedHopByHop(fuzzASCIILowercased(name.utf8))
            let switching = whole.status == 101 && (name == "Connection" || name == "Upgrade")
            fuzzCheck(!hopByHop || switching, "hop-by-hop \(line.debugDescription) passed on")
        }
        if whole.status == 101 {
            fuzzCheck(whole.headers.contains("Connection: Upgrade"), "a 101 without Connection: Upgrade: \(whole.headers)")
            fuzzCheck(whole.headers.contains { $0.hasPrefix("Upgrade: ") && $0.count > 9 }, "a 101 naming no protocol: \(whole.headers)")
            fuzzCheck(!whole.complete && whole.completeAtClose, "a tunnel ends when a side closes")
        }
    }

    static func chunked(_ input: inout FuzzReader, piece: Int) {
        var wire: [UInt8] = []
        var payload: [UInt8] = []
        while !input.isEmpty {
            let size = Int(input.byte() % 40) + 1
            let bareLF = input.bool()
            let newline: [UInt8] = bareLF ? [0x0A] : [0x0D, 0x0A]
            let data = Array(input.rest.prefix(size))
            guard !data.isEmpty else { break }
            input = FuzzReader(Array(input.rest.dropFirst(data.count)))
            wire += Array(String(data.count, radix: 16, uppercase: input.bool()).utf8)
            if input.bool() { wire += Array(";ext=\"v\"".utf8) }
            wire += newline + data + newline
            payload += data
        }
        wire += Array("0\r\n".utf8)
        if input.bool() { wire += Array("Trailer: t\r\n".utf8) }
        wire += Array("\r\n".utf8)
        let end = wire.count
        wire += Array("HTTP/1.1 200 OK\r\n".utf8)  // what follows the body is not the body's

        var decoder = ChunkedBodyDecoder()
        var decoded: [UInt8] = []
        var used = 0
        var start = 0
        while start < wire.count && !decoder.isDone {
            let stop = min(start + piece, wire.count)
            do {
                used += try wire[start..<stop].withUnsafeBytes { part in
                    try decoder.decode(part) { decoded.append(contentsOf: $0) }
                }
            } catch {
                fuzzCheck(false, "a well-formed chunked body refused: \(error)")
            }
            start = stop
        }
        fuzzCheck(decoder.isDone, "the body did not end")
        fuzzCheck(used == end, "the body ended after \(used) bytes, it is \(end)")
        fuzzCheck(decoded == payload, "decoded \(decoded.count) bytes, wrote \(payload.count)")
    }
}
