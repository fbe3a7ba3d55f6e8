//! Freed memory goes back to the system soon after a large upload's plan, load
//! or results file, so that the next one's peak is not stacked on what the
//! last one left. The server and the load benchmark call
//! [`give_back_freed_memory`] before their runtime's threads start.
//!
//! Two allocators hold the process's memory. mimalloc (the server's global
//! allocator, Rust's allocations) purges a page freed by a thread only a
//! second later, and only when that thread next allocates: a planning thread
//! that goes idle kept its ~80 MB. SQLite's C code allocates with glibc's
//! malloc, which after freeing one large block serves blocks up to that size
//! (1 MiB file parts, large statements) from per-thread arenas it rarely
//! trims: another ~80 MB. In the load benchmark at a million rows the peak
//! went from 203–228 MB to 164 MB on SQLite and from 185 to 162 MB on
//! PostgreSQL (docs/performance.md).
//!
//! How soon mimalloc gives a freed page back depends on the database. On
//! SQLite a load's statements are built and run in this process, batch after
//! batch, and pages given back at once were mapped again at the next batch: a
//! delay of 10 ms cut a 1M-row load's system time by a quarter with the same
//! peak. On PostgreSQL the same delay raised the plan's peak by 17 MB and
//! gained nothing measurable, so there they go at once.

/// mimalloc 3's `mi_option_purge_delay` (its place in `mi_option_e`, which
/// libmimalloc-sys 0.1.49 does not name): milliseconds from freeing a page to
/// giving it back (1000 by default; 0: at once).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// glibc: blocks from this size are mapped on their own and unmapped when
/// freed (fixing it turns off glibc's rising threshold), and SQLite's threads
/// share two arenas instead of one each.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_FROM_BYTES: i32 = 256 * 1024;
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const ARENAS: i32 = 2;

/// Milliseconds mimalloc keeps a freed page before giving it back, for a
/// process on the database of `database_url`.
fn purge_delay_ms(database_url: &str) -> std::ffi::c_long {
    if crate::db::is_sqlite(database_url) {
        10
    } else {
        0
    }
}

/// Sets the allocators' options for a process on the database of
/// `database_url`.
pub fn give_back_freed_memory(database_url: &str) {
    // SAFETY: both only set allocator options, read at each allocator's next
    // call, and touch no memory handed out; called before other threads
    // start (mimalloc's options are not set thread-safely).
    unsafe {
        libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, purge_delay_ms(database_url));
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_FROM_BYTES);
        libc::mallopt(libc::M_ARENA_MAX, ARENAS);
    }
}
