//! TCP_NODELAY for the PostgreSQL connections.
//!
//! sqlx 0.9.0 stopped setting TCP_NODELAY on its sockets (transact-rs/sqlx#4335;
//! the fix, #4336, is merged but not released). Without it every request larger
//! than one TCP segment (a 500-row INSERT, say) waits ~40 ms for the server's
//! delayed ACK: measured here, that cut the load's rate on PostgreSQL by two
//! thirds. sqlx offers no hook on its socket, so after each new connection the
//! process's TCP sockets are given the option; it is harmless on any TCP socket
//! and refused (and ignored) on everything else. Remove this once sqlx sets it.

/// Sets TCP_NODELAY on every TCP socket this process has open.
#[cfg(target_os = "linux")]
pub fn on_all_tcp_sockets() {
    use std::os::fd::{BorrowedFd, RawFd};
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else { return };
    for entry in entries.flatten() {
        let Some(fd) = entry.file_name().to_str().and_then(|n| n.parse::<RawFd>().ok()) else { continue };
        let is_socket =
            std::fs::read_link(entry.path()).is_ok_and(|target| target.to_string_lossy().starts_with("socket:"));
        if !is_socket {
            continue;
        }
        // SAFETY: the descriptor was open when listed; if another thread closed it
        // since, the call fails with EBADF or, if the number was reused for another
        // socket, sets a harmless option on it. Nothing is read or written.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let socket = socket2::SockRef::from(&fd);
        if socket.tcp_nodelay().is_ok_and(|on| !on) {
            let _ = socket.set_tcp_nodelay(true);
        }
    }
}

#[cfg(not(target_os = "linux"))]
pub fn on_all_tcp_sockets() {}
