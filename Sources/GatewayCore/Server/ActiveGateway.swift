import Synchronization

/// The `CompiledGateway` new requests start with. Each request takes one snapshot at its head and keeps it to its
/// end, so a reload never changes a request in flight, and the next request on a keep-alive connection sees the
/// new one (docs/operations.md#reload). One uncontended lock per request head; the swap replaces a reference.
public final class ActiveGateway: Sendable {
    private let compiled: Mutex<CompiledGateway>

    public init(_ compiled: CompiledGateway) {
        self.compiled = Mutex(compiled)
    }

    public var current: CompiledGateway { compiled.withLock { $0 } }

    func swap(to new: CompiledGateway) {
        compiled.withLock { $0 = new }
    }
}
