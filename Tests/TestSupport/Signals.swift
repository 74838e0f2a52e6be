import Foundation

/// Runs `body` with SIGPIPE blocked on the calling thread and says whether
/// it raised one. A write(2) to a closed socket without `MSG_NOSIGNAL`
/// raises SIGPIPE on the writing thread; blocked, it stays pending there
/// (a blocked signal is kept even when the process ignores it) instead of
/// ending the run. A pending SIGPIPE is consumed before the mask is put back.
/// Call it from synchronous code only: `body` must stay on this thread.
package func withSIGPIPEBlocked<R>(_ body: () throws -> R) rethrows -> (result: R, raisedSIGPIPE: Bool) {
    var pipeOnly = sigset_t()
    sigemptyset(&pipeOnly)
    sigaddset(&pipeOnly, SIGPIPE)
    var previous = sigset_t()
    pthread_sigmask(SIG_BLOCK, &pipeOnly, &previous)
    defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
    let result = try body()
    var pending = sigset_t()
    sigpending(&pending)
    let raised = sigismember(&pending, SIGPIPE) == 1
    if raised {
        var now = timespec()
        _ = sigtimedwait(&pipeOnly, nil, &now)
    }
    return (result, raised)
}
