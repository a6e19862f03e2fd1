//! Ports for servers a test starts as a separate process (`helmsman serve`,
//! HAProxy, Prometheus), which must be named before the server binds them.
//!
//! A port taken from `bind("127.0.0.1:0")` and dropped is free only for a
//! moment: the kernel may hand the same ephemeral port to this process's
//! next `bind(":0")` (a sample service) or outgoing connection (the load)
//! before the child binds it, and the child then exits with "address in
//! use". These ports come from below Linux's ephemeral range (32768–60999),
//! where the kernel never assigns a port on its own; each test binary
//! starts at its own offset (by process id), and each port is checked free
//! before it is handed out.

use std::sync::atomic::{AtomicU32, Ordering};

const FIRST: u32 = 10_000;
const COUNT: u32 = 20_000;

static NEXT: AtomicU32 = AtomicU32::new(0);

pub fn free_port() -> u16 {
    let offset = (std::process::id() % 200) * 100;
    for _ in 0..COUNT {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = (FIRST + (offset + n) % COUNT) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port between {FIRST} and {}", FIRST + COUNT);
}
