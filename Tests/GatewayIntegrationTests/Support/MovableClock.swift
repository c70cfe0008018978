/// Milliseconds since the epoch, moved by the test instead of by time passing.
import Foundation
import Synchronization

final class MovableClock: Sendable {
    private let milliseconds: Mutex<Int64>

    /// Starts at the current wall-clock second (a whole second, so second/millisecond rounding is predictable).
    init() {
        let now = Int64(Date().timeIntervalSince1970) * 1000
        milliseconds = Mutex(now)
    }

    var now: Int64 { milliseconds.withLock { $0 } }
    var nowSeconds: Int64 { now / 1000 }

    func advance(_ duration: Duration) {
        let step = duration.milliseconds
        milliseconds.withLock { $0 += step }
    }

    func set(milliseconds value: Int64) {
        milliseconds.withLock { $0 = value }
    }

    /// The closure the gateway reads.
    var function: @Sendable () -> Int64 { { [self] in self.now } }
}
