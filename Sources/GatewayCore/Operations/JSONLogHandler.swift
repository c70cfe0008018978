import Foundation
import Logging
import NIOConcurrencyHelpers

/// `[log] format = "json"`: the gateway's own log lines on stderr as one JSON object each (`time`, `level`,
/// `label`, `message`, then the metadata as strings), for log pipelines that parse JSON.
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    private let label: String
    private let write: @Sendable ([UInt8]) -> Void

    /// A handler writing to stderr, one `write` per line (lines from several threads never interleave).
    public static func standardError(label: String) -> JSONLogHandler {
        JSONLogHandler(label: label) { line in
            line.withUnsafeBytes { _ = Glibc.write(STDERR_FILENO, $0.baseAddress, $0.count) }
        }
    }

    init(label: String, write: @escaping @Sendable ([UInt8]) -> Void) {
        self.label = label
        self.write = write
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        write(Self.line(event, label: label, handlerMetadata: metadata))
    }

    static func line(_ event: LogEvent, label: String, handlerMetadata: Logger.Metadata, now: UnixTime = WallClock.system.now()) -> [UInt8] {
        var out = JSONLine()
        out.key("time", first: true)
        out.string(now.rfc3339Milliseconds)
        out.key("level")
        out.string(event.level.rawValue)
        out.key("label")
        out.string(label)
        out.key("message")
        out.string(event.message.description)
        let merged = handlerMetadata.merging(event.metadata ?? [:]) { $1 }
        // Reserved keys stay the handler's: metadata never overwrites time, level, label or message.
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) where !["time", "level", "label", "message"].contains(key) {
            out.bytes.append(UInt8(ascii: ","))
            out.string(key)
            out.bytes.append(UInt8(ascii: ":"))
            out.string(value.description)
        }
        out.bytes.append(contentsOf: "}\n".utf8)
        return out.bytes
    }
}
