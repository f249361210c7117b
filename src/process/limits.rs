//! The descriptor limit. Many systems start processes with a soft `RLIMIT_NOFILE` of 1024
//! and a far higher hard limit; the health server needs room for a flood of connections
//! ([`crate::serve::connections`]), so it raises the supervisor's soft limit to the hard one,
//! as Go programs do, and every worker gets the limit back as it was inherited
//! ([`restore_in_child`]): the worker's limits are never ours to change.

use std::sync::atomic::{AtomicU64, Ordering};

/// The soft limit as inherited, once raised; `u64::MAX` while nothing was changed.
static INHERITED_SOFT: AtomicU64 = AtomicU64::new(u64::MAX);

fn get() -> Option<libc::rlimit> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct it is given.
    (unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0).then_some(limit)
}

/// Raises the soft descriptor limit to the hard limit (at most `ceiling`); returns the soft
/// limit now in force.
pub fn raise_descriptors(ceiling: u64) -> u64 {
    let Some(limit) = get() else {
        return 1024;
    };
    let wanted = limit.rlim_max.min(ceiling).max(limit.rlim_cur);
    if wanted == limit.rlim_cur {
        return limit.rlim_cur;
    }
    let raised = libc::rlimit {
        rlim_cur: wanted,
        rlim_max: limit.rlim_max,
    };
    // Recorded first, so that a worker spawned from now on gets the old value back.
    let _ = INHERITED_SOFT.compare_exchange(
        u64::MAX,
        limit.rlim_cur,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    // SAFETY: setrlimit reads the struct it is given.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
        wanted
    } else {
        limit.rlim_cur
    }
}

/// In a forked child before exec: puts the soft descriptor limit back as the supervisor
/// inherited it. Only system calls: async-signal-safe.
pub fn restore_in_child() {
    let inherited = INHERITED_SOFT.load(Ordering::SeqCst);
    if inherited == u64::MAX {
        return;
    }
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit on a struct of our own; failure leaves the raised limit.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
            limit.rlim_cur = inherited.min(limit.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}
