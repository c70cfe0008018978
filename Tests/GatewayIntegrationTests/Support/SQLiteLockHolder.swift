/// A `sqlite3` CLI process holding `BEGIN EXCLUSIVE` on a database until `release()`: a store that is locked.
import Foundation
import Glibc

final class SQLiteLockHolder: Sendable {
    private let process: Process
    private let input: FileHandle
    private let output: PipeText

    private init(process: Process, input: FileHandle, output: PipeText) {
        self.process = process
        self.input = input
        self.output = output
    }

    /// Starts sqlite3 on `path`, takes the exclusive lock and waits until it reports holding it.
    static func lock(_ path: String) async throws -> SQLiteLockHolder {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        process.arguments = [path]
        let stdin = Pipe(), stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stdout
        try process.run()
        try? stdout.fileHandleForWriting.close()
        try? stdin.fileHandleForReading.close()
        let holder = SQLiteLockHolder(process: process, input: stdin.fileHandleForWriting, output: PipeText(stdout))
        // A write inside the transaction makes it a real writer on the WAL, then the marker says it holds.
        try holder.send("PRAGMA busy_timeout = 5000;\nBEGIN EXCLUSIVE;\nUPDATE sessions SET id = id WHERE 0;\nSELECT 'lock-held';\n")
        let held = await eventually(timeout: .seconds(10)) { holder.output.text.contains("lock-held") }
        guard held else {
            holder.kill()
            throw HTTPTestClientError.timedOut("sqlite3 to take the lock; output: \(holder.output.text)")
        }
        return holder
    }

    private func send(_ text: String) throws {
        try input.write(contentsOf: Data(text.utf8))
    }

    var transcript: String { output.text }

    /// Ends the transaction and the process, releasing the lock.
    func release() async {
        try? send("ROLLBACK;\n.quit\n")
        try? input.close()
        _ = await eventually(timeout: .seconds(10)) { !self.process.isRunning }
        kill()
    }

    func kill() {
        if process.isRunning {
            Glibc.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}
