//! The blocking facade: the same services, for programs without an async runtime.
//!
//! A [`Connection`] runs the SDK's async machinery on one background thread of its own.
//! Services are the ordinary generated ones; with the [`Wait`] trait a call either
//!
//! * waits for its result: `request.wait()`, or
//! * returns a handle at once, with the request already on its way, whose
//!   [`Wait::wait`] gives the result later: `let pending = request.send(); ...; pending.wait()`.
//!
//! A long list is read item by item with `list().stream().wait()`, an iterator
//! ([`ListIter`]) that reads the body as it arrives, in bounded memory.
//!
//! ```no_run
//! use ovirt::blocking::{Connection, Wait};
//! # fn demo() -> Result<(), ovirt::Error> {
//! let connection = Connection::builder()
//!     .url("https://engine.example.com/ovirt-engine/api")
//!     .username("admin@internal")
//!     .password("secret")
//!     .build_blocking()?;
//! let vms_service = connection.system_service().vms_service();
//! let vms = vms_service.list().wait()?;                  // waits
//! let pending: Vec<_> = vms                               // all on their way at once
//!     .iter()
//!     .map(|vm| vms_service.vm_service(vm).nics_service().list().send())
//!     .collect();
//! for nics in pending {
//!     println!("{} NICs", nics.wait()?.len());           // results in any order
//! }
//! connection.close()?;
//! # Ok(())
//! # }
//! ```
//!
//! Disk images move with [`Connection::upload`] and [`Connection::download`] (see
//! [`crate::transfer`]).
//!
//! Do not call [`Wait::wait`] from inside an async runtime (it blocks the thread), and use
//! it only on requests of services obtained from a blocking [`Connection`].

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;

use crate::error::{Error, ErrorKind};
use crate::service::{
    BoxFuture, Call, ListStream, MethodWire, RawResponse, Request, ResponseFuture, ServiceContext,
    StreamedResponse, Transport,
};
use crate::xml::FromXml;

/// Blocks the current thread until `future` completes, polling it on this thread.
///
/// The futures of a blocking connection's requests only wait for a message from the
/// background thread, so they need no runtime here.
fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(out) => return out,
            Poll::Pending => std::thread::park(),
        }
    }
}

/// Waiting for the result of a request of a blocking connection.
pub trait Wait {
    /// What waiting gives.
    type Output;

    /// Blocks until the result is there. For a request not sent yet, sends it first.
    fn wait(self) -> Self::Output;
}

impl<M: MethodWire> Wait for Request<M> {
    type Output = Result<M::Output, Error>;

    fn wait(self) -> Self::Output {
        block_on(self.into_future())
    }
}

impl<T> Wait for ResponseFuture<T> {
    type Output = Result<T, Error>;

    fn wait(self) -> Self::Output {
        block_on(self)
    }
}

/// The items of a list read as the body arrives (from
/// [`stream`](crate::service::Request::stream)) become a blocking iterator: each `next`
/// blocks until the next item (or the error that ends the list) is in.
///
/// ```no_run
/// use ovirt::blocking::{Connection, Wait};
/// # fn demo(connection: Connection) -> Result<(), ovirt::Error> {
/// let mut count = 0;
/// for vm in connection.system_service().vms_service().list().stream().wait() {
///     let vm = vm?;
///     count += usize::from(vm.name.is_some());
/// }
/// println!("{count} named VMs");
/// # Ok(())
/// # }
/// ```
impl<T: FromXml> Wait for ListStream<T> {
    type Output = ListIter<T>;

    fn wait(self) -> ListIter<T> {
        ListIter(self)
    }
}

/// A blocking iterator over the items of a [`ListStream`] (see its [`Wait`] impl): the
/// list is read as its body arrives, in bounded memory; after an error item it ends.
#[derive(Debug)]
#[must_use = "iterators do nothing unless read; the request is already sent"]
pub struct ListIter<T>(ListStream<T>);

impl<T: FromXml> Iterator for ListIter<T> {
    type Item = Result<T, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        block_on(self.0.next())
    }
}

/// The background thread running the async runtime; stopped when the last user is gone.
struct Background {
    handle: tokio::runtime::Handle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Background {
    fn start() -> Result<Background, Error> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| {
                Error::with_message(
                    ErrorKind::Config,
                    format!("cannot start the background runtime: {e}"),
                )
            })?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("ovirt-blocking".to_string())
            .spawn(move || {
                // Runs the tasks until every `Background` user is gone, then drops them.
                runtime.block_on(async move {
                    let _ = stopped.await;
                });
            })
            .map_err(|e| {
                Error::with_message(
                    ErrorKind::Config,
                    format!("cannot start the background thread: {e}"),
                )
            })?;
        Ok(Background {
            handle,
            stop: Some(stop),
        })
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        // Never blocks: the thread ends by itself.
        drop(self.stop.take());
    }
}

/// A [`Transport`] that hands calls to the background runtime.
struct BlockingTransport {
    connection: crate::Connection,
    background: Arc<Background>,
}

impl BlockingTransport {
    /// Starts `send` inside the background runtime's context (which puts the request on its
    /// way now, when a token is held) and lets the background thread carry it on; the
    /// returned future only waits for its answer, on any thread.
    fn relay<T: Send + 'static>(
        &self,
        send: impl FnOnce(&crate::Connection) -> BoxFuture<Result<T, Error>>,
    ) -> BoxFuture<Result<T, Error>> {
        let _enter = self.background.handle.enter();
        let pending = send(&self.connection);
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.background.handle.spawn(async move {
            let _ = tx.send(pending.await);
        });
        // The handle keeps the background thread alive until its answer is in.
        let keep_alive = self.background.clone();
        Box::pin(async move {
            let _keep_alive = keep_alive;
            rx.await.unwrap_or_else(|_| {
                Err(Error::with_message(
                    ErrorKind::Connection,
                    "the connection's background thread stopped before the response",
                ))
            })
        })
    }
}

impl Transport for BlockingTransport {
    fn send(&self, call: Call) -> BoxFuture<Result<RawResponse, Error>> {
        self.relay(|connection| Transport::send(connection, call))
    }

    fn send_streamed(&self, call: Call) -> BoxFuture<Result<StreamedResponse, Error>> {
        // The body is then read on the caller's thread, from the chunks the connection task
        // on the background thread delivers (the stream keeps that thread alive).
        self.relay(|connection| Transport::send_streamed(connection, call))
    }

    fn base_path(&self) -> &str {
        Transport::base_path(&self.connection)
    }

    fn origin(&self) -> &str {
        Transport::origin(&self.connection)
    }
}

/// A blocking connection to an engine. Cheap to clone. Build it with
/// [`crate::ConnectionBuilder::build_blocking`].
#[derive(Clone)]
pub struct Connection {
    transport: Arc<BlockingTransport>,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("blocking::Connection")
            .field("connection", &self.transport.connection)
            .finish()
    }
}

impl Connection {
    /// Options for a new connection; finish with
    /// [`build_blocking`](crate::ConnectionBuilder::build_blocking).
    pub fn builder() -> crate::ConnectionBuilder {
        crate::Connection::builder()
    }

    pub(crate) fn new(builder: crate::ConnectionBuilder) -> Result<Connection, Error> {
        let background = Arc::new(Background::start()?);
        let connection = {
            let _enter = background.handle.enter();
            builder.build()?
        };
        Ok(Connection {
            transport: Arc::new(BlockingTransport {
                connection,
                background,
            }),
        })
    }

    fn run<T, F>(&self, future: F) -> Result<T, Error>
    where
        F: Future<Output = Result<T, Error>> + Send + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.transport.background.handle.spawn(async move {
            let _ = tx.send(future.await);
        });
        block_on(rx).unwrap_or_else(|_| {
            Err(Error::with_message(
                ErrorKind::Connection,
                "the connection's background thread stopped",
            ))
        })
    }

    /// The async connection underneath (its futures need the background runtime: prefer
    /// the blocking methods).
    pub fn connection(&self) -> &crate::Connection {
        &self.transport.connection
    }

    /// The API entry URL.
    pub fn url(&self) -> &str {
        self.transport.connection.url()
    }

    /// The transport of this connection's services.
    pub fn transport(&self) -> Arc<dyn Transport> {
        self.transport.clone()
    }

    /// The root service (`system`); wait for its calls with [`Wait::wait`].
    pub fn system_service(&self) -> crate::services::SystemService {
        crate::services::SystemService::new(self.root_context())
    }

    /// The context of the root service, for building services by hand.
    pub fn root_context(&self) -> ServiceContext {
        ServiceContext::root(self.transport())
    }

    /// Returns the SSO token, logging in first if needed.
    pub fn authenticate(&self) -> Result<String, Error> {
        let c = self.transport.connection.clone();
        self.run(async move { c.authenticate().await })
    }

    /// Checks that the engine answers (see [`crate::Connection::test`]).
    pub fn test(&self) -> Result<(), Error> {
        let c = self.transport.connection.clone();
        self.run(async move { c.test().await })
    }

    /// Closes the connection and revokes the token (see [`crate::Connection::close`]).
    pub fn close(&self) -> Result<(), Error> {
        let c = self.transport.connection.clone();
        self.run(async move { c.close().await })
    }

    /// Closes the connection without revoking the token.
    pub fn close_without_logout(&self) -> Result<(), Error> {
        let c = self.transport.connection.clone();
        self.run(async move { c.close_without_logout().await })
    }

    /// Uploads `source` (a path, or [`Source::reader`](crate::transfer::Source::reader))
    /// to the disk `disk` and waits until the engine has it; see [`crate::transfer`]. The
    /// data moves on the background thread; the progress callback runs there.
    ///
    /// ```no_run
    /// use ovirt::transfer::TransferOptions;
    /// # fn demo(connection: ovirt::blocking::Connection) -> Result<(), ovirt::Error> {
    /// let options = TransferOptions::new().progress(|p| eprint!("\r{}/{}", p.done, p.total));
    /// let stats = connection.upload("disk-id", "disk.raw", &options)?;
    /// println!("{} bytes sent, {} bytes of zeros skipped", stats.data_bytes, stats.zero_bytes);
    /// # Ok(())
    /// # }
    /// ```
    pub fn upload(
        &self,
        disk: impl crate::AsId,
        source: impl Into<crate::transfer::Source>,
        options: &crate::transfer::TransferOptions,
    ) -> Result<crate::transfer::TransferStats, Error> {
        let disk = crate::transfer::disk_id(&disk)?;
        let c = self.transport.connection.clone();
        self.run(crate::transfer::run_upload(
            c,
            disk,
            source.into(),
            options.clone(),
        ))
    }

    /// Downloads the disk `disk` into `destination` (a path, or
    /// [`Destination::writer`](crate::transfer::Destination::writer)); see
    /// [`crate::transfer`].
    pub fn download(
        &self,
        disk: impl crate::AsId,
        destination: impl Into<crate::transfer::Destination>,
        options: &crate::transfer::TransferOptions,
    ) -> Result<crate::transfer::TransferStats, Error> {
        let disk = crate::transfer::disk_id(&disk)?;
        let c = self.transport.connection.clone();
        self.run(crate::transfer::run_download(
            c,
            disk,
            destination.into(),
            options.clone(),
        ))
    }
}
