import Foundation
import Logging
import Synchronization
import Testing
@testable import GatewayCore

/// The access log's sink (docs/operations.md#access-log-and-request-ids): never blocks the caller, drops and counts what does not fit.
struct AccessLogTests {
    @Test func linesReachTheSinkInOrder() throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        let log = AccessLog(sink: .init(descriptor: fds[1], owned: true), dropped: {})
        for i in 0..<100 { log.append(Array("line \(i)\n".utf8)) }
        log.stop()
        let read = FileHandle(fileDescriptor: fds[0], closeOnDealloc: true).readDataToEndOfFile()
        let lines = String(decoding: read, as: UTF8.self).split(separator: "\n")
        #expect(lines == (0..<100).map { "line \($0)"[...] })
    }

    /// A reload points the log elsewhere: what was queued goes where it was meant to, later lines to the new sink,
    /// and `off` takes nothing.
    @Test func retargetSendsLaterLinesToTheNewSink() throws {
        var first: [Int32] = [0, 0], second: [Int32] = [0, 0]
        #expect(pipe(&first) == 0 && pipe(&second) == 0)
        let log = AccessLog(sink: .init(descriptor: first[1], owned: true), dropped: {})
        log.append(Array("before\n".utf8))
        log.retarget(.init(descriptor: second[1], owned: true))
        log.append(Array("after\n".utf8))
        log.retarget(nil)
        #expect(!log.isEnabled)
        log.append(Array("off\n".utf8))
        log.stop()
        let one = FileHandle(fileDescriptor: first[0], closeOnDealloc: true).readDataToEndOfFile()
        let two = FileHandle(fileDescriptor: second[0], closeOnDealloc: true).readDataToEndOfFile()
        #expect(String(decoding: one, as: UTF8.self) == "before\n")
        #expect(String(decoding: two, as: UTF8.self) == "after\n")
    }

    /// A sink nobody drains: appends keep returning at once, and what exceeds the buffer is dropped and counted.
    @Test func aStalledSinkDropsLinesInsteadOfBlocking() throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        signal(SIGPIPE, SIG_IGN)  // as `gateway serve` does: a reader gone is EPIPE, not the end of the process
        let dropped = Atomic<Int>(0)
        let log = AccessLog(sink: .init(descriptor: fds[1], owned: false), dropped: { dropped.add(1, ordering: .relaxed) })
        let line = Array(String(repeating: "x", count: 1023).utf8) + [0x0A]
        let started = ContinuousClock.now
        // 4 MiB in all; held at most: the buffer, the batch the writer took (stuck in its write) and the pipe's 64 KiB.
        for _ in 0..<4096 { log.append(line) }
        #expect(ContinuousClock.now - started < .seconds(2), "appending never waits on the sink")
        #expect(dropped.load(ordering: .relaxed) >= 4096 - (2 * AccessLog.capacity + 65536) / 1024 - 64)
        #expect(dropped.load(ordering: .relaxed) < 4096)
        close(fds[0])  // the reader goes away: the writer's blocked write fails (EPIPE) and it can stop
        log.stop()
        close(fds[1])
    }

    @Test func aLineEscapesWhatItQuotes() {
        var out = JSONLine()
        out.key("a", first: true)
        out.string("q\"b\\s\nt\u{1}é")
        out.key("n")
        out.string(nil)
        out.key("ms")
        out.milliseconds(.microseconds(12_345))
        out.bytes.append(UInt8(ascii: "}"))
        let text = String(decoding: out.bytes, as: UTF8.self)
        #expect(text == #"{"a":"q\"b\\s\nt\u0001é","n":null,"ms":12.345}"#)
        #expect(JSONValue.parse(out.bytes) != nil)
    }

    @Test func rfc3339InUTCWithMilliseconds() {
        #expect(UnixTime(milliseconds: 0).rfc3339Milliseconds == "1970-01-01T00:00:00.000Z")
        #expect(UnixTime(milliseconds: 951_782_400_050).rfc3339Milliseconds == "2000-02-29T00:00:00.050Z", "a leap day")
        #expect(UnixTime(milliseconds: 1_796_620_245_007).rfc3339Milliseconds == "2026-12-07T05:10:45.007Z")
    }

    @Test func jsonLogLinesCarryLevelMessageAndMetadata() throws {
        let event = LogEvent(level: .warning, message: "store \"down\"", metadata: ["sid": "s-1", "message": "not this"],
                             source: "GatewayCore", file: #fileID, function: #function, line: #line)
        let bytes = JSONLogHandler.line(event, label: "gateway", handlerMetadata: ["node": "a"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: String])
        #expect(object["level"] == "warning")
        #expect(object["message"] == "store \"down\"", "metadata never overwrites the message")
        #expect(object["label"] == "gateway")
        #expect(object["sid"] == "s-1")
        #expect(object["node"] == "a")
        #expect(bytes.last == 0x0A)
    }
}
