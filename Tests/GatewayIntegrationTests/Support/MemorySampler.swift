/// Samples a process's VmRSS every few milliseconds in the background and keeps the largest value.
import Foundation
import Synchronization

final class MemorySampler: Sendable {
    private let peak = Mutex(0)
    private let task: Mutex<Task<Void, Never>?> = Mutex(nil)

    init(pid: Int32, every interval: Duration = .milliseconds(20)) {
        let sampling = Task.detached { [self] in
            while !Task.isCancelled {
                if let memory = try? ProcessMemory.of(pid: pid) {
                    self.peak.withLock { $0 = max($0, memory.resident) }
                }
                try? await Task.sleep(for: interval)
            }
        }
        task.withLock { $0 = sampling }
    }

    /// Stops sampling and returns the largest VmRSS seen, in bytes.
    func stop() async -> Int {
        let sampling = task.withLock { $0 }
        sampling?.cancel()
        await sampling?.value
        return peak.withLock { $0 }
    }
}
