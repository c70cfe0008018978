import Foundation
import NIOConcurrencyHelpers

/// The access log's sink (SPEC §7.2): lines go into a bounded buffer, and a thread of its own writes them out.
/// The event loop never waits on the sink: when the buffer is full (the disk or the pipe cannot keep up), a
/// line is dropped and counted in `gateway_access_log_dropped_total`, and the request goes on.
public final class AccessLog: Sendable {
    /// Bytes waiting to be written, at most: about 4,000 lines.
    static let capacity = 1 << 20

    private struct State {
        var pending: [UInt8] = []
        var stopping = false
    }

    /// Value 1: there are bytes to write, or the log is stopping; 0: nothing to do.
    private let state = NIOLockedValueBox(State())
    private let ready = ConditionLock(value: 0)
    private let descriptor: Int32
    private let ownsDescriptor: Bool
    private let dropped: @Sendable () -> Void
    private let finished = ConditionLock(value: 0)

    /// A log writing to `descriptor` (closed on `stop` when `ownsDescriptor`); `dropped` is called per line lost.
    init(descriptor: Int32, ownsDescriptor: Bool, dropped: @escaping @Sendable () -> Void) {
        self.descriptor = descriptor
        self.ownsDescriptor = ownsDescriptor
        self.dropped = dropped
        let thread = Thread { [self] in run() }
        thread.name = "access-log"
        thread.start()
    }

    public struct OpenError: Error, CustomStringConvertible {
        public let description: String
    }

    /// The log `destination` names; nil for `off`. A file is opened for appending (created 0640), relative to
    /// `baseDirectory`.
    static func open(_ destination: AccessLogDestination, baseDirectory: String,
                     dropped: @escaping @Sendable () -> Void) throws -> AccessLog? {
        switch destination {
        case .off: return nil
        case .stdout: return AccessLog(descriptor: STDOUT_FILENO, ownsDescriptor: false, dropped: dropped)
        case .stderr: return AccessLog(descriptor: STDERR_FILENO, ownsDescriptor: false, dropped: dropped)
        case .file(let path):
            let resolved = SigningKey.resolve(path, in: baseDirectory)
            let fd = Glibc.open(resolved, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
            guard fd >= 0 else {
                throw OpenError(description: "log.access: cannot open \(resolved): \(String(cString: strerror(errno)))")
            }
            return AccessLog(descriptor: fd, ownsDescriptor: true, dropped: dropped)
        }
    }

    /// Queues one line (with its newline); drops it when the buffer is full. Never blocks on the sink.
    func append(_ line: [UInt8]) {
        let accepted = state.withLockedValue { state in
            guard !state.stopping, state.pending.count + line.count <= Self.capacity else { return false }
            state.pending.append(contentsOf: line)
            return true
        }
        guard accepted else { return dropped() }
        ready.lock()
        ready.unlock(withValue: 1)
    }

    private func run() {
        while true {
            ready.lock(whenValue: 1)
            ready.unlock(withValue: 0)
            let (bytes, stopping) = state.withLockedValue { state -> ([UInt8], Bool) in
                defer { state.pending.removeAll(keepingCapacity: true) }
                return (state.pending, state.stopping)
            }
            write(bytes)
            if stopping {
                if ownsDescriptor { close(descriptor) }
                finished.lock()
                finished.unlock(withValue: 1)
                return
            }
        }
    }

    private func write(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress! + offset, bytes.count - offset) }
            if written > 0 {
                offset += written
            } else if written < 0 && errno == EINTR {
                continue
            } else {
                return  // the sink is gone (a closed pipe, a full disk): nothing to do but lose these lines
            }
        }
    }

    /// Writes what is queued, then ends the writer thread (and closes a file it opened).
    public func stop() {
        let first = state.withLockedValue { state in
            defer { state.stopping = true }
            return !state.stopping
        }
        guard first else { return }
        ready.lock()
        ready.unlock(withValue: 1)
        finished.lock(whenValue: 1)
        finished.unlock()
    }
}
