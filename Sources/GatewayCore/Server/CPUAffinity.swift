import Foundation
import NIOCore

/// How many CPUs this process may run on. NIO's `System.coreCount` honours cgroup limits but not the
/// affinity mask (`taskset`), and a gateway pinned to one core should not run two event loops on it.
public enum CPUAffinity {
    public static var usableCores: Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let allowed = allowedCount(procStatus: status)
        else { return System.coreCount }
        return max(1, min(allowed, System.coreCount))
    }

    /// Counts the bits of the `Cpus_allowed:` hex mask (`ff,ffffffff`) in /proc/PID/status text.
    static func allowedCount(procStatus: String) -> Int? {
        for line in procStatus.split(separator: "\n") where line.hasPrefix("Cpus_allowed:") {
            var count = 0
            for c in line.dropFirst("Cpus_allowed:".count) where c != "," && c != " " && c != "\t" {
                guard let nibble = c.hexDigitValue else { return nil }
                count += nibble.nonzeroBitCount
            }
            return count
        }
        return nil
    }
}
