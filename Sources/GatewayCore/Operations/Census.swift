import Synchronization

/// Counts the objects of one kind that are alive (created and not yet freed): upstream transfers of one client,
/// connection handlers of one listener. One that outlives its connection or exchange is a leak (of memory, or of a
/// paused upstream connection), and this is how tests see it.
public final class Census: Sendable {
    private let count = Atomic<Int>(0)

    public init() {}

    public var alive: Int { count.load(ordering: .relaxed) }
    func arrived() { count.add(1, ordering: .relaxed) }
    func departed() { count.subtract(1, ordering: .relaxed) }
}
