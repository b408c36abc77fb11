//! One task per connection (placeholder: fails every request).

use std::sync::Arc;

use tokio::sync::mpsc;

use crate::pool::{Job, Pool, Progress};
use crate::{Error, ErrorKind};

pub(crate) async fn run(pool: Arc<Pool>, id: u64, mut rx: mpsc::UnboundedReceiver<Job>) {
    while let Some(job) = rx.recv().await {
        let err = Error::new(ErrorKind::Connect, "not implemented yet")
            .for_request(job.method, pool.config.url(&job.path));
        job.answer(Err(err));
        pool.report(id, Progress { done: 1, ..Default::default() });
    }
    pool.closed(id, Vec::new());
}
