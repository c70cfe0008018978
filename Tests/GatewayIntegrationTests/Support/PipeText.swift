/// Collects a pipe's output on its own thread until EOF.
import Foundation
import Synchronization

final class PipeText: Sendable {
    private let data = Mutex(Data())
    private let finished = Mutex(false)

    convenience init(_ pipe: Pipe) {
        self.init(pipe.fileHandleForReading)
    }

    init(_ handle: FileHandle) {
        let thread = Thread { [self] in
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                data.withLock { $0.append(chunk) }
            }
            finished.withLock { $0 = true }
        }
        thread.start()
    }

    var text: String { data.withLock { String(decoding: $0, as: UTF8.self) } }
    /// Whether EOF was reached: all the writer will ever write is in `text`.
    var isFinished: Bool { finished.withLock { $0 } }
}
