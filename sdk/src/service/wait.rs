//! Waiting for a state: [`WaitUntil`], on every service that has a `get`.

use std::time::Duration;

use super::{BoxFuture, MethodWire, Request};
use crate::error::{Error, ErrorKind};

/// Polls a service's `get` until a condition holds: `vm_service.wait_until(|vm| vm.status
/// == Some(VmStatus::Up), timeout, interval)`. Implemented (by model-codegen) for every
/// service with a `get` method; bring it into scope with `use ovirt::WaitUntil`.
///
/// ```no_run
/// use std::time::Duration;
/// use ovirt::types::VmStatus;
/// use ovirt::WaitUntil;
///
/// # async fn demo(connection: ovirt::Connection) -> Result<(), ovirt::Error> {
/// let vm_service = connection.system_service().vms_service().vm_service("123");
/// vm_service.start().await?;
/// let vm = vm_service
///     .wait_until(
///         |vm| vm.status == Some(VmStatus::Up),
///         Duration::from_secs(300),
///         Duration::from_secs(2),
///     )
///     .await?;
/// println!("{:?} is up", vm.name);
/// # Ok(())
/// # }
/// ```
///
/// The first `get` is sent at once; then one every `interval` until `done` returns true
/// (the value it accepted is returned) or `timeout` has passed
/// ([`ErrorKind::Timeout`], naming how many times it looked). A failed `get` ends the wait
/// with its error. Needs the tokio runtime of an async [`Connection`](crate::Connection).
pub trait WaitUntil: Clone + Send + Sync + 'static {
    /// The marker of the service's `get`.
    #[doc(hidden)]
    type Get: MethodWire;

    /// The service's `get` request.
    #[doc(hidden)]
    fn get_request(&self) -> Request<Self::Get>;

    /// Polls `get` every `interval` until `done` accepts the value or `timeout` passes.
    fn wait_until<F>(
        &self,
        mut done: F,
        timeout: Duration,
        interval: Duration,
    ) -> BoxFuture<Result<<Self::Get as MethodWire>::Output, Error>>
    where
        F: FnMut(&<Self::Get as MethodWire>::Output) -> bool + Send + 'static,
        <Self::Get as MethodWire>::Output: Send,
    {
        let service = self.clone();
        Box::pin(async move {
            let deadline = tokio::time::Instant::now() + timeout;
            let mut polls = 0u32;
            loop {
                let value = service.get_request().send().await?;
                polls += 1;
                if done(&value) {
                    return Ok(value);
                }
                drop(value);
                let now = tokio::time::Instant::now();
                if now >= deadline {
                    return Err(Error::with_message(
                        ErrorKind::Timeout,
                        format!(
                            "{}: the condition was not met within {timeout:?} ({polls} gets)",
                            <Self::Get as MethodWire>::NAME
                        ),
                    ));
                }
                tokio::time::sleep(interval.min(deadline - now)).await;
            }
        })
    }
}
