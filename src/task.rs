//! Background tasks that end with whatever owns them.

use tokio::task::JoinHandle;

/// A spawned task, aborted when this is dropped: the health server, the monitor, a worker's
/// poller checks. Nothing of ours runs on after its owner is gone.
pub struct AbortOnDrop<T>(pub JoinHandle<T>);

impl<T> AbortOnDrop<T> {
    /// Spawns `future` on the current runtime.
    pub fn spawn<F>(future: F) -> AbortOnDrop<T>
    where
        F: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        AbortOnDrop(tokio::spawn(future))
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
