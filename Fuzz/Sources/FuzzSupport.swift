import Dispatch
import Foundation

/// Stops the run with `message` when an invariant does not hold: libFuzzer sees the abort as a crash and
/// saves the input. The message names the invariant, and the input's bytes are in the artifact.
func fuzzCheck(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
               file: StaticString = #fileID, line: UInt = #line) {
    guard !condition() else { return }
    FileHandle.standardError.write(Data("\n==fuzz== invariant failed at \(file):\(line): \(message())\n".utf8))
    abort()
}

/// Reads a structured input off the fuzzer's bytes; past the end every read gives zero or empty, so any
/// input is a valid program.
struct FuzzReader {
    private(set) var rest: ArraySlice<UInt8>

    init(_ bytes: [UInt8]) { rest = bytes[...] }

    var isEmpty: Bool { rest.isEmpty }

    mutating func byte() -> UInt8 {
        rest.popFirst() ?? 0
    }

    mutating func bool() -> Bool { byte() & 1 == 1 }

    /// 0..<count (count > 0).
    mutating func index(below count: Int) -> Int { Int(byte()) % count }

    mutating func int64() -> Int64 {
        var v: UInt64 = 0
        for _ in 0..<8 { v = v << 8 | UInt64(byte()) }
        return Int64(bitPattern: v)
    }

    /// The bytes up to `separator` (not included; it is consumed), or everything left.
    mutating func chunk(upTo separator: UInt8) -> ArraySlice<UInt8> {
        guard let end = rest.firstIndex(of: separator) else {
            defer { rest = rest[rest.endIndex...] }
            return rest
        }
        defer { rest = rest[(end + 1)...] }
        return rest[..<end]
    }

    mutating func remaining() -> ArraySlice<UInt8> {
        defer { rest = rest[rest.endIndex...] }
        return rest
    }
}

/// Splits on a byte, keeping empty pieces (what a text protocol's line or list split does).
func fuzzSplit(_ bytes: some Collection<UInt8>, on separator: UInt8) -> [[UInt8]] {
    var pieces: [[UInt8]] = [[]]
    for byte in bytes {
        if byte == separator { pieces.append([]) } else { pieces[pieces.count - 1].append(byte) }
    }
    return pieces
}

/// SP and HTAB trimmed off both ends (RFC 9110 OWS), over bytes.
func fuzzTrimOWS(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
    var s = bytes
    while let f = s.first, f == 0x20 || f == 0x09 { s = s.dropFirst() }
    while let l = s.last, l == 0x20 || l == 0x09 { s = s.dropLast() }
    return s
}

func fuzzASCIILowercased(_ bytes: some Sequence<UInt8>) -> [UInt8] {
    bytes.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }
}

/// A reference base64url codec (RFC 4648 §5), written apart from the one under test. Decoding accepts what a
/// lenient decoder may: unpadded or `=`-padded to a multiple of 4, and any value in the unused low bits of the
/// last character (so several spellings decode to the same bytes; the bytes are what a signature check compares).
enum FuzzBase64URL {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    static func encode(_ bytes: some Collection<UInt8>) -> String {
        let input = Array(bytes)
        var out: [UInt8] = []
        var i = 0
        while i < input.count {
            let b0 = UInt32(input[i])
            let b1 = i + 1 < input.count ? UInt32(input[i + 1]) : 0
            let b2 = i + 2 < input.count ? UInt32(input[i + 2]) : 0
            let v = b0 << 16 | b1 << 8 | b2
            out.append(alphabet[Int(v >> 18 & 63)])
            out.append(alphabet[Int(v >> 12 & 63)])
            if i + 1 < input.count { out.append(alphabet[Int(v >> 6 & 63)]) }
            if i + 2 < input.count { out.append(alphabet[Int(v & 63)]) }
            i += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func decode(_ text: some Collection<UInt8>) -> [UInt8]? {
        var chars = Array(text)
        if chars.count % 4 == 0 {
            // Padding, if any, only at the very end (at most two).
            var pad = 0
            while pad < 2, chars.last == UInt8(ascii: "=") { chars.removeLast(); pad += 1 }
        }
        guard chars.count % 4 != 1 else { return nil }
        var values: [UInt32] = []
        values.reserveCapacity(chars.count)
        for c in chars {
            guard let v = alphabet.firstIndex(of: c) else { return nil }
            values.append(UInt32(v))
        }
        var out: [UInt8] = []
        var i = 0
        while i < values.count {
            let n = min(4, values.count - i)
            var v: UInt32 = 0
            for j in 0..<4 { v = v << 6 | (j < n ? values[i + j] : 0) }
            out.append(UInt8(v >> 16 & 0xFF))
            if n > 2 { out.append(UInt8(v >> 8 & 0xFF)) }
            if n > 3 { out.append(UInt8(v & 0xFF)) }
            i += 4
        }
        return out
    }
}

/// Runs async set-up code (key loading) from the fuzzer's synchronous start.
func fuzzBlocking<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) -> T {
    let box = FuzzResultBox<T>()
    let done = DispatchSemaphore(value: 0)
    Task {
        do { box.result = .success(try await body()) } catch { box.result = .failure(error) }
        done.signal()
    }
    done.wait()
    switch box.result! {
    case .success(let value): return value
    case .failure(let error): fatalError("fuzz set-up failed: \(error)")
    }
}

/// Written by one task, read after the semaphore: no concurrent access.
final class FuzzResultBox<T: Sendable>: @unchecked Sendable {
    var result: Result<T, any Error>?
}

/// Crashes found by these targets and reported, not yet fixed in Sources (see Fuzz/crashes/). While one is
/// open, its target steers around that one input shape so the rest of the target keeps fuzzing; set
/// `FUZZ_STRICT=1` to run without the detours (and to reproduce). Delete an entry once its fix is in.
enum FuzzKnownIssues {
    static let strict = ProcessInfo.processInfo.environment["FUZZ_STRICT"] == "1"
}

/// Request header fields as NIO's HTTP/1 parser can deliver them, from `name: value` lines of the input: a
/// name is a token (RFC 9110 §5.1), a value has no CR, LF or NUL and no leading or trailing OWS. Other lines
/// are skipped: the parser refuses such requests before the gateway sees them.
enum FuzzHeaders {
    static func fields(_ bytes: some Collection<UInt8>) -> [(String, String)] {
        var fields: [(String, String)] = []
        for line in fuzzSplit(bytes, on: 0x0A) {
            var line = line[...]
            if line.last == 0x0D { line = line.dropLast() }
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { continue }
            let name = line[..<colon]
            let value = fuzzTrimOWS(line[(colon + 1)...])
            guard !name.isEmpty, name.allSatisfy(HTTPToken.isTokenByte),
                  !value.contains(where: { $0 == 0 || $0 == 0x0D || $0 == 0x0A })
            else { continue }
            fields.append((String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self)))
        }
        return fields
    }
}
