/// A wall clock moved by the test instead of by time passing.
import Foundation
import GatewayCore
import Synchronization

final class MovableClock: Sendable {
    private let time: Mutex<UnixTime>

    /// Starts at the current wall-clock second (a whole second, so second/millisecond rounding is predictable).
    init() {
        time = Mutex(UnixTime(seconds: Int64(Date().timeIntervalSince1970)))
    }

    var now: UnixTime { time.withLock { $0 } }
    var nowSeconds: Int64 { now.seconds }

    func advance(_ duration: Duration) {
        time.withLock { $0 = $0 + duration }
    }

    func set(_ value: UnixTime) {
        time.withLock { $0 = value }
    }

    /// The clock the gateway reads.
    var wallClock: WallClock { WallClock { [self] in now } }
}
