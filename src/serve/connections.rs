//! The health server's connections under hostile load. Anyone who can reach the port can
//! open connections and hold them, so no fixed pool decides who is served:
//!
//! - every connection is accepted at once, as long as the descriptor budget allows
//!   ([`budget`]: from `RLIMIT_NOFILE`, its soft limit raised towards the hard one, leaving
//!   room for the supervisor's own descriptors, and at most [`MAX_CONNECTIONS`], which bounds
//!   memory too);
//! - at the budget, the **oldest idle** connection (one that has not sent a whole request yet,
//!   or was answered already) is shed to make room: a probe sends its request at once and is
//!   answered at once, so an idle or slow client can only push out other idle or slow
//!   clients;
//! - each connection has deadlines: [`HEADER_DEADLINE`] (up to half as long again, at
//!   random) for its request head, [`CONNECTION_DEADLINE`] for the whole request and
//!   response.
//!
//! [`Connections`] keeps the books: which connections are open, in the order they came, and
//! whether each is still idle.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::task::AbortHandle;

use crate::process::limits;

/// Most connections open at once, whatever the descriptor limit. An idle connection costs a
/// small task; one that sends gets hyper's smallest read buffer (8 KiB).
pub const MAX_CONNECTIONS: usize = 16_384;
/// Descriptors left for everything else the supervisor opens (Temporal connections, the
/// workers' pipes, spawning).
const RESERVED_DESCRIPTORS: u64 = 256;
/// A client must send its request head within this time. Probes send theirs at once; the
/// deadline only cleans up, and a longer one makes a flood re-open its connections (costing
/// accepts) less often.
pub const HEADER_DEADLINE: Duration = Duration::from_secs(5);
/// A connection ends after this long, whatever it is doing (a slow body, a slow reader).
pub const CONNECTION_DEADLINE: Duration = Duration::from_secs(10);

/// How many connections may be open at once with this soft descriptor limit: the limit less
/// a reserve (at least half of a small limit is kept), at most [`MAX_CONNECTIONS`].
pub fn budget_for(soft_limit: u64) -> usize {
    let budget = soft_limit
        .saturating_sub(RESERVED_DESCRIPTORS)
        .max(soft_limit / 2)
        .max(1);
    usize::try_from(budget)
        .unwrap_or(MAX_CONNECTIONS)
        .min(MAX_CONNECTIONS)
}

/// The budget for this process, its soft `RLIMIT_NOFILE` raised first as far as the hard
/// limit allows and the budget needs (the workers get the limit they inherited).
pub fn budget() -> usize {
    let soft = limits::raise_descriptors(MAX_CONNECTIONS as u64 + RESERVED_DESCRIPTORS);
    budget_for(soft)
}

/// The open connections, shared by the accept loop and the connections' tasks.
#[derive(Clone)]
pub struct Connections {
    books: Arc<Mutex<Books>>,
    budget: usize,
}

#[derive(Default)]
struct Books {
    next_id: u64,
    /// Connections still waiting for a whole request, oldest (smallest id) first.
    idle: BTreeMap<u64, AbortHandle>,
    /// Connections serving their request: not to be shed.
    busy: BTreeMap<u64, AbortHandle>,
}

/// What the accept loop should do with a new connection.
#[derive(Debug, PartialEq)]
pub enum Admit {
    /// Serve it under this id.
    Serve(u64),
    /// Serve it under this id; the oldest idle connection was shed to make room.
    ServeAfterShedding(u64),
    /// Every connection is busy serving a request: close this one (they end within their
    /// deadline, so this lasts at most a moment).
    Refuse,
}

impl Connections {
    pub fn new(budget: usize) -> Connections {
        Connections {
            books: Arc::default(),
            budget: budget.max(1),
        }
    }

    pub fn budget(&self) -> usize {
        self.budget
    }

    fn books(&self) -> MutexGuard<'_, Books> {
        self.books.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Admits a new connection, shedding the oldest idle one when at the budget. `spawn`
    /// starts the connection's task with its id and returns the handle that can end it; it
    /// is called with the books locked, so the task cannot end before it is entered.
    pub fn admit(&self, spawn: impl FnOnce(u64) -> AbortHandle) -> Admit {
        let mut books = self.books();
        let mut shed = None;
        if books.idle.len() + books.busy.len() >= self.budget {
            match books.idle.pop_first() {
                Some((_, oldest)) => shed = Some(oldest),
                None => return Admit::Refuse,
            }
        }
        let id = books.next_id;
        books.next_id += 1;
        let handle = spawn(id);
        books.idle.insert(id, handle);
        drop(books);
        match shed {
            Some(oldest) => {
                // Its task ends (and closes its socket) the next time the runtime gets to it.
                oldest.abort();
                Admit::ServeAfterShedding(id)
            }
            None => Admit::Serve(id),
        }
    }

    /// The connection sent its whole request: it is not shed while it is being answered.
    pub fn busy(&self, id: u64) {
        let mut books = self.books();
        // A connection already shed stays out of the books.
        if let Some(handle) = books.idle.remove(&id) {
            books.busy.insert(id, handle);
        }
    }

    /// The connection was answered: while it closes, it may be shed again (in the order it
    /// came), so that clients that send whole requests and then hold their connections open
    /// cannot fill the budget either.
    pub fn answered(&self, id: u64) {
        let mut books = self.books();
        if let Some(handle) = books.busy.remove(&id) {
            books.idle.insert(id, handle);
        }
    }

    /// The connection ended (served, timed out, closed by the client, or shed).
    pub fn ended(&self, id: u64) {
        let mut books = self.books();
        books.idle.remove(&id);
        books.busy.remove(&id);
    }

    /// Connections open now.
    #[cfg(test)]
    pub fn open(&self) -> usize {
        let books = self.books();
        books.idle.len() + books.busy.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_leave_room_for_the_supervisor_and_stay_bounded() {
        assert_eq!(budget_for(1024), 768);
        assert_eq!(budget_for(4096), 3840);
        assert_eq!(budget_for(20_000), MAX_CONNECTIONS);
        assert_eq!(budget_for(1 << 20), MAX_CONNECTIONS);
        assert_eq!(budget_for(u64::MAX), MAX_CONNECTIONS);
        assert_eq!(budget_for(300), 150);
        assert_eq!(budget_for(1), 1);
        assert_eq!(budget_for(0), 1);
    }

    #[tokio::test]
    async fn at_the_budget_the_oldest_idle_connection_is_shed() {
        let connections = Connections::new(3);
        let mut tasks = Vec::new();
        {
            let mut spawn = |_id: u64| {
                let task = tokio::spawn(std::future::pending::<()>());
                let handle = task.abort_handle();
                tasks.push(task);
                handle
            };
            assert_eq!(connections.admit(&mut spawn), Admit::Serve(0));
            assert_eq!(connections.admit(&mut spawn), Admit::Serve(1));
            assert_eq!(connections.admit(&mut spawn), Admit::Serve(2));
            // Connection 0 sent its request: 1 is now the oldest idle one.
            connections.busy(0);
            assert_eq!(connections.admit(&mut spawn), Admit::ServeAfterShedding(3));
        }
        assert_eq!(connections.open(), 3);
        assert!(
            tasks.remove(1).await.unwrap_err().is_cancelled(),
            "1 was shed"
        );
        assert!(!tasks[0].is_finished(), "the busy one is left alone");
        // A shed connection that reports itself busy stays out of the books.
        connections.busy(1);
        assert_eq!(connections.open(), 3);
        // All busy: a new connection is refused instead of shedding one being served.
        connections.busy(2);
        connections.busy(3);
        let refused = connections.admit(|_| unreachable!("not spawned"));
        assert_eq!(refused, Admit::Refuse);
        // Answered, a connection may be shed again while it closes.
        connections.answered(0);
        let spawn = |_| tokio::spawn(std::future::pending::<()>()).abort_handle();
        assert_eq!(connections.admit(spawn), Admit::ServeAfterShedding(4));
        connections.ended(2);
        assert_eq!(connections.open(), 2);
    }
}
