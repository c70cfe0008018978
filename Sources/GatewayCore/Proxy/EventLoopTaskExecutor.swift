import NIOCore

/// Runs a task's jobs on one event loop (a task executor preference, SE-0417). The request path's async steps
/// (renewal's store calls, the token endpoints) then start and resume on their connection's own loop instead of
/// hopping to Swift's cooperative pool and back, which on a small machine competes with the event loops and
/// libcurl's threads for the same cores (the renewal-heavy bench lost 8-33 % CPU per request to those hops).
/// The jobs only ever await: nothing here blocks the loop.
final class EventLoopTaskExecutor: TaskExecutor {
    let eventLoop: any EventLoop

    init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
