//! Work on two threads (natively; WebAssembly runs here on one), with a
//! thread's panic carried on in the caller, as if the work had run there.

/// `a` on a thread of its own beside `b` (natively; in WebAssembly one after
/// the other). A panic in either is the caller's.
pub(crate) fn side_by_side<A: Send, B>(a: impl FnOnce() -> A + Send, b: impl FnOnce() -> B) -> (A, B) {
    if cfg!(target_arch = "wasm32") {
        let a = a();
        return (a, b());
    }
    std::thread::scope(|scope| {
        let a = scope.spawn(a);
        let b = b();
        (joined(a), b)
    })
}

/// What a scoped thread returned; its panic, if it panicked, goes on here.
pub(crate) fn joined<T>(thread: std::thread::ScopedJoinHandle<'_, T>) -> T {
    thread.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}
