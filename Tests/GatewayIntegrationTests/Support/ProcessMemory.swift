/// Resident memory of a process, from /proc/PID/status.
import Foundation

struct ProcessMemory: Sendable, CustomStringConvertible {
    /// VmRSS in bytes.
    var resident: Int
    /// VmHWM (peak resident) in bytes.
    var peakResident: Int

    static func of(pid: Int32) throws -> ProcessMemory {
        let text = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        func kilobytes(_ key: String) -> Int {
            for line in text.split(separator: "\n") where line.hasPrefix(key + ":") {
                let number = line.dropFirst(key.count + 1).split(separator: " ").first { Int($0) != nil }
                return (number.flatMap { Int($0) } ?? 0) * 1024
            }
            return 0
        }
        return ProcessMemory(resident: kilobytes("VmRSS"), peakResident: kilobytes("VmHWM"))
    }

    var description: String { "VmRSS \(resident / 1024) KiB, VmHWM \(peakResident / 1024) KiB" }
}
