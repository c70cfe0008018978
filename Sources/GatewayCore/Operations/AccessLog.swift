import Foundation
import NIOConcurrencyHelpers
import Synchronization

/// The access log (docs/operations.md#access-log-and-request-ids): lines go into a bounded buffer, and a thread of its own writes them to the sink
/// `log.access` names. The event loop never waits on the sink: when the buffer is full (the disk or the pipe
/// cannot keep up), a line is dropped and counted in `gateway_access_log_dropped_total`, and the request goes on.
/// A reload points the log at a new sink (`retarget`): lines queued before go to the old one, later ones to the
/// new; a file named again is opened again (so a reload after log rotation writes to the new file).
public final class AccessLog: Sendable {
    /// Bytes waiting to be written, at most: about 4,000 lines (plus the batch the writer is writing).
    static let capacity = 1 << 20

    /// Where lines go: a descriptor, closed by the log when it opened it.
    struct Sink: Sendable {
        let descriptor: Int32
        let owned: Bool
    }

    private struct State {
        var pending: [UInt8] = []
        /// nil: `log.access = "off"`.
        var sink: Sink?
        /// Sinks replaced by `retarget`, each with the bytes queued for it.
        var retired: [(sink: Sink, bytes: [UInt8])] = []
        var stopping = false
    }

    private let state: NIOLockedValueBox<State>
    /// Whether a sink is set: read without the lock, so a log that is off costs a request nothing.
    private let enabled: Synchronization.Atomic<Bool>
    /// Value 1: there is something to write, or the log is stopping; 0: nothing to do.
    private let ready = ConditionLock(value: 0)
    private let finished = ConditionLock(value: 0)
    private let dropped: @Sendable () -> Void

    init(sink: Sink?, dropped: @escaping @Sendable () -> Void) {
        state = NIOLockedValueBox(State(sink: sink))
        enabled = Synchronization.Atomic(sink != nil)
        self.dropped = dropped
        let thread = Thread { [self] in run() }
        thread.name = "access-log"
        thread.start()
    }

    /// The log `destination` names, relative to `baseDirectory` for a file.
    convenience init(_ destination: AccessLogDestination, baseDirectory: String,
                     dropped: @escaping @Sendable () -> Void) throws(OpenError) {
        self.init(sink: try Self.sink(destination, baseDirectory: baseDirectory), dropped: dropped)
    }

    public struct OpenError: Error, CustomStringConvertible {
        public let description: String
    }

    /// The sink `destination` names; nil for `off`. A file is opened for appending (created 0640).
    static func sink(_ destination: AccessLogDestination, baseDirectory: String) throws(OpenError) -> Sink? {
        switch destination {
        case .off: return nil
        case .stdout: return Sink(descriptor: STDOUT_FILENO, owned: false)
        case .stderr: return Sink(descriptor: STDERR_FILENO, owned: false)
        case .file(let path):
            let resolved = SigningKey.resolve(path, in: baseDirectory)
            let fd = Glibc.open(resolved, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
            guard fd >= 0 else {
                throw OpenError(description: "log.access: cannot open \(resolved): \(String(cString: strerror(errno)))")
            }
            return Sink(descriptor: fd, owned: true)
        }
    }

    /// Whether lines are taken: when not, a request need not even build its line.
    var isEnabled: Bool { enabled.load(ordering: .relaxed) }

    /// Queues one line (with its newline); drops it when the buffer is full. Never blocks on the sink.
    func append(_ line: [UInt8]) {
        let accepted = state.withLockedValue { state in
            guard !state.stopping, state.sink != nil else { return true }
            guard state.pending.count + line.count <= Self.capacity else { return false }
            state.pending.append(contentsOf: line)
            return true
        }
        guard accepted else { return dropped() }
        wake()
    }

    /// Lines from now on go to `sink` (nil: none); what is queued still goes to the sink it was queued for.
    func retarget(_ sink: Sink?) {
        state.withLockedValue { state in
            if let old = state.sink {
                state.retired.append((old, state.pending))
                state.pending.removeAll()
            }
            state.sink = sink
            enabled.store(sink != nil, ordering: .relaxed)
        }
        wake()
    }

    private func wake() {
        ready.lock()
        ready.unlock(withValue: 1)
    }

    private func run() {
        while true {
            ready.lock(whenValue: 1)
            ready.unlock(withValue: 0)
            let (retired, bytes, sink, stopping) = state.withLockedValue { state in
                defer {
                    state.retired.removeAll()
                    state.pending = []
                }
                return (state.retired, state.pending, state.sink, state.stopping)
            }
            for (old, queued) in retired {
                write(queued, to: old.descriptor)
                if old.owned { close(old.descriptor) }
            }
            if let sink { write(bytes, to: sink.descriptor) }
            if stopping {
                if let sink, sink.owned { close(sink.descriptor) }
                finished.lock()
                finished.unlock(withValue: 1)
                return
            }
        }
    }

    private func write(_ bytes: [UInt8], to descriptor: Int32) {
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
        wake()
        finished.lock(whenValue: 1)
        finished.unlock()
    }
}
