//! Disk upload and download through image transfers, sparse-aware and over several
//! connections at once.
//!
//! [`upload`] and [`download`] do the whole flow of an image transfer: they read the disk,
//! create the transfer (`image_transfers` service), wait for the phase `transferring`,
//! pick imageio's URL (the host's `transfer_url`, else the engine's `proxy_url`), ask it
//! with `OPTIONS` what it supports and how many connections it allows, move the bytes over
//! up to that many connections, flush once, `finalize`, and wait for `finished_success`.
//! On any failure the transfer is cancelled and the error says what failed and at which
//! offset.
//!
//! ```no_run
//! use ovirt::transfer::{self, TransferOptions};
//!
//! # async fn demo(connection: ovirt::Connection, disk_id: &str) -> Result<(), ovirt::Error> {
//! let options = TransferOptions::new()
//!     .connections(4)
//!     .progress(|p| eprint!("\r{} of {} bytes", p.done, p.total));
//! let stats = transfer::upload(&connection, disk_id, "disk.raw", &options).await?;
//! eprintln!("\n{} bytes sent, {} bytes of zeros skipped", stats.data_bytes, stats.zero_bytes);
//! transfer::download(&connection, disk_id, "copy.raw", &options).await?;
//! # Ok(())
//! # }
//! ```
//!
//! Without an async runtime: [`blocking::Connection::upload`](crate::blocking::Connection::upload)
//! and [`download`](crate::blocking::Connection::download) take the same arguments.
//!
//! # Sparse images
//!
//! Zeros are not sent. On upload, the data extents of a file are found with
//! `SEEK_DATA`/`SEEK_HOLE` (Linux; elsewhere the whole file is read), chunks that hold only
//! zeros are found as they are read, and both become `PATCH` `zero` requests when imageio
//! has the `zero` feature (otherwise zeros are sent like any data). On download, imageio's
//! `extents` list (`context=zero`) names the zero ranges; only the data is fetched. A file
//! destination gets its size first and keeps holes where the image has zeros; a writer
//! receives the zeros written out. [`TransferOptions::zero_ranges`]`(false)` sends and
//! fetches everything.
//!
//! # Disk formats: no conversion here
//!
//! The bytes go as they are; this module converts nothing. What the transfer's
//! [`format`](TransferOptions::format) means is imageio's rule:
//!
//! * `raw` (the default for a file that is not qcow2, and for downloads): the bytes are
//!   the disk's guest-visible contents. Upload a raw image this way, to a raw disk or to a
//!   `cow` disk (imageio writes the guest data into the qcow2 volume); a download gives a
//!   raw image whatever the disk's format.
//! * `cow` (the default for a file that starts with the qcow2 magic `QFI\xfb`): the bytes
//!   are the qcow2 file itself, written to or read from a `cow` disk as stored.
//!
//! A mismatch that can be seen is refused before the transfer is created: a qcow2 file
//! sent as `raw` (its header would become the guest's first sector), a file that is not
//! qcow2 sent as `cow`, a `cow` transfer of a raw disk, or a raw image larger than the
//! disk's `provisioned_size`. Other conversions (vmdk, vhd, compressed qcow2, a different
//! virtual size) are the user's: `qemu-img convert` before an upload or after a download.
//! The disk must exist (add it with the `disks` service, `provisioned_size` at least the
//! image's virtual size, and `initial_size` for a qcow2 upload to block storage); a disk
//! still `locked` is waited for.
//!
//! # Memory and connections
//!
//! The image is cut into chunks of [`TransferOptions::chunk_size`] (default 4 MiB), sent
//! as `PUT` requests with `Content-Range: bytes START-END/*` and `?flush=n` (or fetched
//! with `GET` and `Range`), on at most [`TransferOptions::connections`] connections
//! (default 4, never more than imageio's `max_writers`/`max_readers`), each carrying up to
//! [`TransferOptions::pipeline`] requests at once (default 2). Memory stays bounded by
//! chunk size x (connections x pipeline + 3), whatever the image's size. A request whose
//! connection breaks is sent again (every request of a transfer can be repeated), up to
//! [`TransferOptions::retries`] times.
//!
//! # Cancelling
//!
//! Dropping the future of [`upload`] or [`download`] stops the data at once (the requests
//! in flight are abandoned) and, once the image transfer exists and until it has been
//! finalized, sends its `cancel` from a task spawned on the current tokio runtime. That
//! cancel is best effort: it is not awaited, so if the runtime itself shuts down at once
//! it may not reach the engine, and the transfer then ends by its inactivity timeout (or
//! cancel it with the `image_transfer` service's `cancel`).
//!
//! # Secrets
//!
//! imageio's URLs carry the transfer's ticket: errors and this module's log events show
//! them with `***` in its place.

mod imageio;
mod sink;
mod source;

use std::collections::VecDeque;
use std::fmt;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::error::{Error, ErrorKind};
use crate::services::{DiskService, ImageTransferService};
use crate::types::{
    Disk, DiskFormat, DiskStatus, ImageTransfer, ImageTransferDirection, ImageTransferPhase,
};
use crate::{AsId, Connection};

use imageio::{ImageUrl, Imageio, ServerOptions};
use sink::{Output, WriteOp};
use source::{Cutting, Input, Piece};

/// The smallest and largest chunk size accepted.
const CHUNK_LIMITS: (usize, usize) = (4096, 256 << 20);

/// How far a transfer has come: bytes done (sent, fetched, or skipped as zeros) of the
/// image's total.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Progress {
    /// Bytes of the image done so far, zero ranges included.
    pub done: u64,
    /// The image's size in bytes.
    pub total: u64,
}

/// Which of the transfer's URLs to use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum UrlChoice {
    /// The host's `transfer_url`; the engine's `proxy_url` if it is missing or its
    /// `OPTIONS` fails (default).
    #[default]
    Auto,
    /// Only `transfer_url` (the host's imageio).
    TransferUrl,
    /// Only `proxy_url` (the engine's imageio proxy): for clients that cannot reach the
    /// hosts.
    ProxyUrl,
}

/// A progress callback.
type ProgressFn = Arc<dyn Fn(Progress) + Send + Sync>;

/// Options of [`upload`] and [`download`]: `TransferOptions::new().connections(4)`.
#[derive(Clone)]
pub struct TransferOptions {
    chunk_size: usize,
    connections: usize,
    pipeline: usize,
    zero_ranges: bool,
    inactivity_timeout: Option<Duration>,
    format: Option<DiskFormat>,
    url: UrlChoice,
    progress: Option<ProgressFn>,
    wait_timeout: Duration,
    request_timeout: Option<Duration>,
    retries: u32,
}

impl fmt::Debug for TransferOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransferOptions")
            .field("chunk_size", &self.chunk_size)
            .field("connections", &self.connections)
            .field("pipeline", &self.pipeline)
            .field("zero_ranges", &self.zero_ranges)
            .field("inactivity_timeout", &self.inactivity_timeout)
            .field("format", &self.format)
            .field("url", &self.url)
            .field("progress", &self.progress.is_some())
            .field("wait_timeout", &self.wait_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("retries", &self.retries)
            .finish()
    }
}

impl Default for TransferOptions {
    fn default() -> Self {
        TransferOptions {
            chunk_size: 4 << 20,
            connections: 4,
            pipeline: 2,
            zero_ranges: true,
            inactivity_timeout: None,
            format: None,
            url: UrlChoice::Auto,
            progress: None,
            wait_timeout: Duration::from_secs(300),
            request_timeout: Some(imageio::DEFAULT_REQUEST_TIMEOUT),
            retries: 3,
        }
    }
}

impl TransferOptions {
    /// The defaults: 4 MiB chunks, 4 connections, 2 requests in flight on each, zero
    /// ranges skipped, the format chosen from the image, `transfer_url` then `proxy_url`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes per request (default 4 MiB; 4 KiB to 256 MiB). Memory use is about this
    /// times (connections x pipeline + 3).
    pub fn chunk_size(mut self, bytes: usize) -> Self {
        self.chunk_size = bytes;
        self
    }

    /// Connections to imageio at most (default 4, at least 1); imageio's `max_writers`
    /// (upload) or `max_readers` (download) lowers it.
    pub fn connections(mut self, n: usize) -> Self {
        self.connections = n;
        self
    }

    /// Requests in flight per connection (default 2, at least 1): the next chunk is on
    /// the wire while imageio writes the previous one.
    pub fn pipeline(mut self, depth: usize) -> Self {
        self.pipeline = depth;
        self
    }

    /// Skip zeros (default true): holes and all-zero chunks are written with `PATCH zero`
    /// on upload, zero extents are not fetched on download. False sends every byte.
    pub fn zero_ranges(mut self, on: bool) -> Self {
        self.zero_ranges = on;
        self
    }

    /// The transfer's `inactivity_timeout`: the engine cancels it after this long without
    /// a request (default: the engine's, 60 s). Sent in whole seconds.
    pub fn inactivity_timeout(mut self, timeout: Duration) -> Self {
        self.inactivity_timeout = Some(timeout);
        self
    }

    /// The transfer's format (see [Disk formats](self#disk-formats-no-conversion-here));
    /// default: `cow` for an upload of a qcow2 file, `raw` otherwise.
    pub fn format(mut self, format: DiskFormat) -> Self {
        self.format = Some(format);
        self
    }

    /// Which URL to use (default [`UrlChoice::Auto`]).
    pub fn url(mut self, choice: UrlChoice) -> Self {
        self.url = choice;
        self
    }

    /// Called after every chunk with the bytes done and the total, on the runtime's
    /// thread (the blocking facade's background thread): keep it short.
    pub fn progress(mut self, callback: impl Fn(Progress) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(callback));
        self
    }

    /// Time limit of each wait for the engine: the disk to be `ok`, the transfer to reach
    /// `transferring`, then `finished_success` (default 300 s).
    pub fn wait_timeout(mut self, timeout: Duration) -> Self {
        self.wait_timeout = timeout;
        self
    }

    /// Time limit of each imageio request (default 120 s; `None`: no limit).
    pub fn request_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Re-sends of a request whose connection broke, beyond the HTTP client's own
    /// (default 3).
    pub fn retries(mut self, n: u32) -> Self {
        self.retries = n;
        self
    }

    fn check(&self) -> Result<(), Error> {
        let bad = |m: String| Err(Error::with_message(ErrorKind::InvalidRequest, m));
        if self.chunk_size < CHUNK_LIMITS.0 || self.chunk_size > CHUNK_LIMITS.1 {
            return bad(format!(
                "chunk_size {} is outside {}..={} bytes",
                self.chunk_size, CHUNK_LIMITS.0, CHUNK_LIMITS.1
            ));
        }
        if self.connections == 0 {
            return bad("connections must be at least 1".into());
        }
        if self.pipeline == 0 {
            return bad("pipeline must be at least 1".into());
        }
        Ok(())
    }
}

/// What a finished transfer did.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransferStats {
    /// The image transfer's id.
    pub transfer_id: String,
    /// The image's size in bytes.
    pub size: u64,
    /// Bytes sent or fetched as data.
    pub data_bytes: u64,
    /// Bytes of zeros skipped (written with `PATCH zero`, or not fetched).
    pub zero_bytes: u64,
    /// Data requests (`PUT`, `PATCH zero`, `GET`) made.
    pub requests: u64,
    /// Connections used at most.
    pub connections: usize,
    /// True if the engine's `proxy_url` was used instead of the host's `transfer_url`.
    pub via_proxy: bool,
    /// From the start of the call to `finished_success`.
    pub elapsed: Duration,
}

impl TransferStats {
    /// Nothing moved yet.
    fn new(transfer_id: String, size: u64) -> TransferStats {
        TransferStats {
            transfer_id,
            size,
            data_bytes: 0,
            zero_bytes: 0,
            requests: 0,
            connections: 0,
            via_proxy: false,
            elapsed: Duration::ZERO,
        }
    }
}

/// What an upload reads: a file (its holes are found) or any reader of a known size.
///
/// `From` a path: `upload(&c, id, "disk.raw", &o)`.
pub struct Source {
    input: SourceInput,
}

enum SourceInput {
    Path(PathBuf),
    Reader(Box<dyn Read + Send>, u64),
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.input {
            SourceInput::Path(p) => f.debug_tuple("Source::file").field(p).finish(),
            SourceInput::Reader(_, size) => f.debug_tuple("Source::reader").field(size).finish(),
        }
    }
}

impl Source {
    /// The file at `path`, whole.
    pub fn file(path: impl Into<PathBuf>) -> Source {
        Source {
            input: SourceInput::Path(path.into()),
        }
    }

    /// `size` bytes read from `reader` (read on a blocking thread). Fewer bytes is an error.
    pub fn reader(reader: impl Read + Send + 'static, size: u64) -> Source {
        Source {
            input: SourceInput::Reader(Box::new(reader), size),
        }
    }
}

impl From<&Path> for Source {
    fn from(p: &Path) -> Source {
        Source::file(p)
    }
}
impl From<PathBuf> for Source {
    fn from(p: PathBuf) -> Source {
        Source::file(p)
    }
}
impl From<&str> for Source {
    fn from(p: &str) -> Source {
        Source::file(p)
    }
}
impl From<String> for Source {
    fn from(p: String) -> Source {
        Source::file(p)
    }
}

/// Where a download goes: a file (created or truncated; holes where the image has zeros)
/// or any writer (written in order, zeros included).
pub struct Destination {
    output: DestinationOutput,
}

enum DestinationOutput {
    Path(PathBuf),
    Writer(Box<dyn Write + Send>),
}

impl fmt::Debug for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.output {
            DestinationOutput::Path(p) => f.debug_tuple("Destination::file").field(p).finish(),
            DestinationOutput::Writer(_) => f.write_str("Destination::writer"),
        }
    }
}

impl Destination {
    /// The file at `path`, created or truncated.
    pub fn file(path: impl Into<PathBuf>) -> Destination {
        Destination {
            output: DestinationOutput::Path(path.into()),
        }
    }

    /// Any writer (written on a blocking thread, from the image's first byte).
    pub fn writer(writer: impl Write + Send + 'static) -> Destination {
        Destination {
            output: DestinationOutput::Writer(Box::new(writer)),
        }
    }
}

impl From<&Path> for Destination {
    fn from(p: &Path) -> Destination {
        Destination::file(p)
    }
}
impl From<PathBuf> for Destination {
    fn from(p: PathBuf) -> Destination {
        Destination::file(p)
    }
}
impl From<&str> for Destination {
    fn from(p: &str) -> Destination {
        Destination::file(p)
    }
}
impl From<String> for Destination {
    fn from(p: String) -> Destination {
        Destination::file(p)
    }
}

/// Uploads `source` to the disk `disk` (see the [module documentation](self)): creates
/// the image transfer, sends the data, finalizes, and waits for `finished_success`. On a
/// failure the transfer is cancelled.
pub async fn upload(
    connection: &Connection,
    disk: impl AsId,
    source: impl Into<Source>,
    options: &TransferOptions,
) -> Result<TransferStats, Error> {
    let disk = disk_id(&disk)?;
    run_upload(connection.clone(), disk, source.into(), options.clone()).await
}

/// Downloads the disk `disk` into `destination` (see the [module documentation](self)):
/// creates the image transfer, fetches the data, finalizes, and waits for
/// `finished_success`. On a failure the transfer is cancelled.
pub async fn download(
    connection: &Connection,
    disk: impl AsId,
    destination: impl Into<Destination>,
    options: &TransferOptions,
) -> Result<TransferStats, Error> {
    let disk = disk_id(&disk)?;
    run_download(
        connection.clone(),
        disk,
        destination.into(),
        options.clone(),
    )
    .await
}

pub(crate) fn disk_id(disk: &dyn AsId) -> Result<String, Error> {
    disk.as_id()
        .map(str::to_owned)
        .ok_or_else(|| Error::with_message(ErrorKind::InvalidRequest, "the disk given has no id"))
}

fn io_error(what: String, e: std::io::Error) -> Error {
    Error::with_message(ErrorKind::InvalidRequest, format!("{what}: {e}"))
}

fn internal(what: &str, e: tokio::task::JoinError) -> Error {
    Error::with_message(ErrorKind::Connection, format!("{what} stopped: {e}"))
}

/// The upload as an owned future (what the blocking facade runs).
pub(crate) async fn run_upload(
    connection: Connection,
    disk: String,
    source: Source,
    options: TransferOptions,
) -> Result<TransferStats, Error> {
    let context = format!("upload to disk {disk}");
    upload_inner(&connection, &disk, source, &options)
        .await
        .map_err(|e| e.context(context))
}

/// The download as an owned future (what the blocking facade runs).
pub(crate) async fn run_download(
    connection: Connection,
    disk: String,
    destination: Destination,
    options: TransferOptions,
) -> Result<TransferStats, Error> {
    let context = format!("download of disk {disk}");
    download_inner(&connection, &disk, destination, &options)
        .await
        .map_err(|e| e.context(context))
}

/// Opens the source and looks at its first bytes (on a blocking thread).
async fn open_source(source: Source) -> Result<(Input, u64, bool), Error> {
    tokio::task::spawn_blocking(move || {
        let (input, size) = match source.input {
            SourceInput::Path(path) => {
                let f = File::open(&path)
                    .map_err(|e| io_error(format!("cannot open {}", path.display()), e))?;
                let meta = f
                    .metadata()
                    .map_err(|e| io_error(format!("cannot read {}", path.display()), e))?;
                if !meta.is_file() {
                    return Err(Error::with_message(
                        ErrorKind::InvalidRequest,
                        format!(
                            "{} is not a regular file; pass a device or pipe as Source::reader with its size",
                            path.display()
                        ),
                    ));
                }
                (Input::File(f), meta.len())
            }
            SourceInput::Reader(r, size) => (Input::Reader(r), size),
        };
        let (input, qcow2) =
            source::sniff(input).map_err(|e| io_error("cannot read the source".into(), e))?;
        Ok((input, size, qcow2))
    })
    .await
    .map_err(|e| internal("opening the source", e))?
}

/// Reads the disk, waiting while it is `locked`.
async fn ready_disk(service: &DiskService, timeout: Duration) -> Result<Disk, Error> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(50);
    loop {
        let disk = service
            .get()
            .await
            .map_err(|e| e.context("reading the disk"))?;
        match &disk.status {
            Some(DiskStatus::Locked) => {}
            Some(DiskStatus::Illegal) => {
                return Err(Error::with_message(
                    ErrorKind::Conflict,
                    "the disk is illegal (status illegal): it cannot be transferred",
                ))
            }
            _ => return Ok(disk),
        }
        if Instant::now() >= deadline {
            return Err(Error::with_message(
                ErrorKind::Timeout,
                format!("the disk was still locked after {timeout:?}"),
            ));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(1));
    }
}

/// Checks the transfer format against the image and the disk; returns the format.
fn choose_upload_format(
    asked: Option<&DiskFormat>,
    disk: &Disk,
    qcow2: bool,
    size: u64,
) -> Result<DiskFormat, Error> {
    let refuse = |m: String| Err(Error::with_message(ErrorKind::InvalidRequest, m));
    let format = match asked {
        Some(f) => f.clone(),
        None if qcow2 => DiskFormat::Cow,
        None => DiskFormat::Raw,
    };
    match format {
        DiskFormat::Raw if qcow2 => refuse(
            "the file is a qcow2 image (it starts with QFI\\xfb) but the transfer format is raw: \
             its bytes would become the disk's contents as they are; convert it first \
             (qemu-img convert -f qcow2 -O raw) or upload it with format cow to a cow disk"
                .into(),
        ),
        DiskFormat::Cow if !qcow2 => refuse(
            "the transfer format is cow but the file is not a qcow2 image (no QFI\\xfb magic); \
             upload it with format raw, or convert it first (qemu-img convert -O qcow2)"
                .into(),
        ),
        DiskFormat::Cow if disk.format == Some(DiskFormat::Raw) => refuse(
            "a qcow2 image cannot be uploaded as is to a raw disk; convert it to raw \
             (qemu-img convert -f qcow2 -O raw) and upload that, or create a cow disk"
                .into(),
        ),
        DiskFormat::Raw => match disk.provisioned_size {
            Some(p) if p >= 0 && size > p as u64 => refuse(format!(
                "the image is {size} bytes, larger than the disk's provisioned_size of {p} bytes"
            )),
            _ => Ok(DiskFormat::Raw),
        },
        f => Ok(f),
    }
}

/// What waiting for a phase sees.
enum Step {
    Done,
    Wait,
    Fail,
}

/// Polls the transfer until `step` says done or failed, or the time is up.
async fn wait_phase(
    service: &ImageTransferService,
    disk_service: &DiskService,
    timeout: Duration,
    what: &str,
    step: impl Fn(Option<&ImageTransferPhase>) -> Step,
    gone_is_done: bool,
) -> Result<ImageTransfer, Error> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(20);
    loop {
        let transfer = match service.get().await {
            Ok(t) => t,
            // A finished transfer may be gone already: then the disk tells the outcome.
            Err(e) if gone_is_done && e.is_not_found() => {
                let disk = disk_service
                    .get()
                    .await
                    .map_err(|e| e.context(format!("{what}: reading the disk")))?;
                return match disk.status {
                    Some(DiskStatus::Ok) | None => Ok(ImageTransfer::new()),
                    Some(s) => Err(Error::with_message(
                        ErrorKind::Fault,
                        format!(
                            "{what}: the transfer is gone and the disk's status is {}",
                            s.as_str()
                        ),
                    )),
                };
            }
            Err(e) => return Err(e.context(what.to_string())),
        };
        match step(transfer.phase.as_ref()) {
            Step::Done => return Ok(transfer),
            Step::Fail => {
                return Err(Error::with_message(
                    ErrorKind::Fault,
                    format!(
                        "{what}: the transfer's phase is {}",
                        phase_name(transfer.phase.as_ref())
                    ),
                ))
            }
            Step::Wait => {}
        }
        if Instant::now() >= deadline {
            return Err(Error::with_message(
                ErrorKind::Timeout,
                format!(
                    "{what}: still in phase {} after {timeout:?}",
                    phase_name(transfer.phase.as_ref())
                ),
            ));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(1));
    }
}

fn phase_name(phase: Option<&ImageTransferPhase>) -> String {
    match phase {
        Some(p) => p.as_str().to_string(),
        None => "not given".into(),
    }
}

fn transferring_step(phase: Option<&ImageTransferPhase>) -> Step {
    use ImageTransferPhase as P;
    match phase {
        Some(P::Transferring) => Step::Done,
        None | Some(P::Unknown | P::Initializing | P::Resuming) => Step::Wait,
        Some(_) => Step::Fail,
    }
}

fn finished_step(phase: Option<&ImageTransferPhase>) -> Step {
    use ImageTransferPhase as P;
    match phase {
        Some(P::FinishedSuccess) => Step::Done,
        None | Some(P::Transferring | P::FinalizingSuccess | P::Unknown) => Step::Wait,
        Some(_) => Step::Fail,
    }
}

/// The transfer created for `disk` and its service. Dropped while `armed` (neither
/// finalized nor cancelled yet: the upload or download future was dropped midway), it
/// sends the transfer's `cancel` from a spawned task.
struct Started {
    service: ImageTransferService,
    id: String,
    armed: AtomicBool,
}

impl Started {
    /// From here on, dropping it no longer cancels the transfer.
    fn disarm(&self) {
        self.armed.store(false, Ordering::Relaxed);
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        if !self.armed.load(Ordering::Relaxed) {
            return;
        }
        let id = self.id.clone();
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::debug!(
                target: "ovirt::transfer",
                "image transfer {id}: dropped midway outside a tokio runtime; not cancelled"
            );
            return;
        };
        tracing::debug!(
            target: "ovirt::transfer",
            "image transfer {id}: the upload or download was dropped midway; cancelling it"
        );
        let cancel = self.service.cancel().send();
        runtime.spawn(async move {
            if let Err(e) = cancel.await {
                tracing::debug!(
                    target: "ovirt::transfer",
                    "image transfer {id}: cancelling it failed: {e}"
                );
            }
        });
    }
}

async fn start_transfer(
    connection: &Connection,
    disk: &str,
    direction: ImageTransferDirection,
    format: DiskFormat,
    options: &TransferOptions,
) -> Result<Started, Error> {
    let transfers = connection.system_service().image_transfers_service();
    let mut t = ImageTransfer::new()
        .disk(Disk::new().id(disk))
        .direction(direction)
        .format(format);
    if let Some(timeout) = options.inactivity_timeout {
        t = t.inactivity_timeout(timeout.as_secs().max(1) as i64);
    }
    let created = transfers
        .add_for_disk()
        .image_transfer(t)
        .await
        .map_err(|e| e.context("creating the image transfer"))?;
    let id = created.id.clone().ok_or_else(|| {
        Error::with_message(
            ErrorKind::UnexpectedResponse,
            "the engine created an image transfer without an id",
        )
    })?;
    Ok(Started {
        service: transfers.image_transfer_service(&id),
        id,
        armed: AtomicBool::new(true),
    })
}

/// Cancels after a failure; a failing cancel is added to the error.
async fn cancel(started: &Started, error: Error) -> Error {
    started.disarm();
    match started.service.cancel().await {
        Ok(_) => error.context(format!("image transfer {} (cancelled)", started.id)),
        Err(e) => error.context(format!(
            "image transfer {} (cancelling it failed too: {e})",
            started.id
        )),
    }
}

/// Waits for phase `transferring`, finds the URL whose imageio answers `OPTIONS` and opens
/// the data client on it, with at most `options.connections` connections and no more than
/// imageio allows (`limit` of its options: `max_writers` or `max_readers`).
async fn open_data_path(
    connection: &Connection,
    started: &Started,
    disk_service: &DiskService,
    options: &TransferOptions,
    limit: fn(&ServerOptions) -> Option<usize>,
    stats: &mut TransferStats,
) -> Result<(Imageio, ServerOptions), Error> {
    let transfer = wait_phase(
        &started.service,
        disk_service,
        options.wait_timeout,
        "waiting for phase transferring",
        transferring_step,
        false,
    )
    .await?;
    let (probe, server, via_proxy) = open_imageio(connection, &transfer, options).await?;
    stats.via_proxy = via_proxy;
    stats.connections = options.connections.min(limit(&server).unwrap_or(1));
    let imageio = Imageio {
        client: connection.data_client(
            &probe.url.origin,
            stats.connections,
            options.pipeline,
            options.request_timeout,
        )?,
        url: probe.url.clone(),
    };
    Ok((imageio, server))
}

/// Ends a transfer after its data moved (`moved`): cancelled on an error, else finalized
/// and waited for; the stats get their elapsed time.
async fn conclude(
    started: Started,
    disk_service: &DiskService,
    options: &TransferOptions,
    moved: Result<(), Error>,
    mut stats: TransferStats,
    started_at: Instant,
) -> Result<TransferStats, Error> {
    if let Err(e) = moved {
        return Err(cancel(&started, e).await);
    }
    finish(&started, disk_service, options).await?;
    stats.elapsed = started_at.elapsed();
    Ok(stats)
}

/// Finalizes and waits for `finished_success` (cancelling if finalize itself fails).
async fn finish(
    started: &Started,
    disk_service: &DiskService,
    options: &TransferOptions,
) -> Result<(), Error> {
    if let Err(e) = started.service.finalize().await {
        return Err(cancel(started, e.context("finalizing")).await);
    }
    started.disarm();
    wait_phase(
        &started.service,
        disk_service,
        options.wait_timeout,
        "waiting for finished_success",
        finished_step,
        true,
    )
    .await
    .map_err(|e| e.context(format!("image transfer {}", started.id)))?;
    Ok(())
}

/// Finds a URL of the transfer whose imageio answers `OPTIONS`.
async fn open_imageio(
    connection: &Connection,
    transfer: &ImageTransfer,
    options: &TransferOptions,
) -> Result<(Imageio, ServerOptions, bool), Error> {
    let candidates: Vec<(&str, Option<&String>, bool)> = match options.url {
        UrlChoice::Auto => vec![
            ("transfer_url", transfer.transfer_url.as_ref(), false),
            ("proxy_url", transfer.proxy_url.as_ref(), true),
        ],
        UrlChoice::TransferUrl => vec![("transfer_url", transfer.transfer_url.as_ref(), false)],
        UrlChoice::ProxyUrl => vec![("proxy_url", transfer.proxy_url.as_ref(), true)],
    };
    let mut failures = Vec::new();
    for (name, url, via_proxy) in candidates {
        let Some(url) = url.filter(|u| !u.is_empty()) else {
            failures.push(format!("{name} is not set"));
            continue;
        };
        let url = ImageUrl::parse(url, name)?;
        let client = connection.data_client(&url.origin, 1, 1, options.request_timeout)?;
        let imageio = Imageio { client, url };
        match imageio.options().await {
            Ok(server) => {
                tracing::debug!(
                    target: "ovirt::transfer",
                    "{name} {} answers: {server:?}",
                    imageio.url.shown()
                );
                return Ok((imageio, server, via_proxy));
            }
            Err(e) => {
                tracing::debug!(target: "ovirt::transfer", "{name} unusable: {e}");
                failures.push(format!("{name}: {e}"));
            }
        }
    }
    Err(Error::with_message(
        ErrorKind::Connection,
        format!(
            "no imageio URL of the transfer answered ({})",
            failures.join("; ")
        ),
    ))
}

/// Reports progress.
struct Meter {
    done: u64,
    total: u64,
    callback: Option<ProgressFn>,
}

impl Meter {
    fn add(&mut self, n: u64) {
        self.done += n;
        if let Some(cb) = &self.callback {
            cb(Progress {
                done: self.done,
                total: self.total,
            });
        }
    }
}

/// Tasks in flight, in order; those left are aborted when dropped (after a failure).
struct InFlight<T> {
    tasks: VecDeque<(u64, JoinHandle<Result<T, Error>>)>,
}

impl<T> InFlight<T> {
    fn new() -> Self {
        InFlight {
            tasks: VecDeque::new(),
        }
    }

    /// Waits for the oldest task; `(its length, its result)`.
    async fn next(&mut self) -> Option<Result<(u64, T), Error>> {
        let (len, handle) = self.tasks.pop_front()?;
        Some(match handle.await {
            Ok(Ok(v)) => Ok((len, v)),
            Ok(Err(e)) => Err(e),
            Err(e) => Err(internal("a transfer request", e)),
        })
    }
}

impl<T> Drop for InFlight<T> {
    fn drop(&mut self) {
        for (_, h) in &self.tasks {
            h.abort();
        }
    }
}

async fn upload_inner(
    connection: &Connection,
    disk: &str,
    source: Source,
    options: &TransferOptions,
) -> Result<TransferStats, Error> {
    options.check()?;
    let started_at = Instant::now();
    let (input, size, qcow2) = open_source(source).await?;
    let disk_service = connection
        .system_service()
        .disks_service()
        .disk_service(disk);
    let disk_value = ready_disk(&disk_service, options.wait_timeout).await?;
    let format = choose_upload_format(options.format.as_ref(), &disk_value, qcow2, size)?;
    let started = start_transfer(
        connection,
        disk,
        ImageTransferDirection::Upload,
        format,
        options,
    )
    .await?;
    let mut stats = TransferStats::new(started.id.clone(), size);
    let sent = async {
        let (imageio, server) = open_data_path(
            connection,
            &started,
            &disk_service,
            options,
            |s| s.max_writers,
            &mut stats,
        )
        .await?;
        send_pieces(&imageio, input, size, &server, options, &mut stats).await?;
        if server.flush {
            imageio.flush(options.retries).await?;
        }
        Ok::<(), Error>(())
    }
    .await;
    conclude(started, &disk_service, options, sent, stats, started_at).await
}

/// Reads the source on a blocking thread and sends its pieces, at most
/// connections x pipeline at once.
async fn send_pieces(
    imageio: &Imageio,
    input: Input,
    size: u64,
    server: &ServerOptions,
    options: &TransferOptions,
    stats: &mut TransferStats,
) -> Result<(), Error> {
    let window = stats.connections * options.pipeline;
    let cutting = Cutting {
        chunk_size: options.chunk_size,
        zero_ranges: options.zero_ranges && server.zero,
    };
    let (tx, mut rx) = mpsc::channel::<Piece>(2);
    let reader = tokio::task::spawn_blocking(move || source::produce(input, size, cutting, tx));
    let mut meter = Meter {
        done: 0,
        total: size,
        callback: options.progress.clone(),
    };
    let mut in_flight = InFlight::<()>::new();
    while let Some(piece) = rx.recv().await {
        while in_flight.tasks.len() >= window {
            if let Some(r) = in_flight.next().await {
                meter.add(r?.0);
            }
        }
        let io = imageio.clone();
        let retries = options.retries;
        stats.requests += 1;
        let (len, task) = match piece {
            Piece::Data { offset, data } => {
                let len = data.len() as u64;
                stats.data_bytes += len;
                (
                    len,
                    tokio::spawn(async move { io.put(offset, data, retries).await }),
                )
            }
            Piece::Zero { offset, len } => {
                stats.zero_bytes += len;
                (
                    len,
                    tokio::spawn(async move { io.zero(offset, len, retries).await }),
                )
            }
        };
        in_flight.tasks.push_back((len, task));
    }
    match reader.await {
        Ok(Ok(())) => {}
        Ok(Err(f)) => {
            return Err(Error::with_message(
                ErrorKind::InvalidRequest,
                format!("reading the source at offset {}: {}", f.offset, f.error),
            ))
        }
        Err(e) => return Err(internal("reading the source", e)),
    }
    while let Some(r) = in_flight.next().await {
        meter.add(r?.0);
    }
    Ok(())
}

/// Opens the destination (on a blocking thread).
async fn open_destination(destination: Destination) -> Result<Output, Error> {
    tokio::task::spawn_blocking(move || match destination.output {
        DestinationOutput::Path(path) => File::create(&path)
            .map(Output::File)
            .map_err(|e| io_error(format!("cannot create {}", path.display()), e)),
        DestinationOutput::Writer(w) => Ok(Output::Writer(w)),
    })
    .await
    .map_err(|e| internal("opening the destination", e))?
}

async fn download_inner(
    connection: &Connection,
    disk: &str,
    destination: Destination,
    options: &TransferOptions,
) -> Result<TransferStats, Error> {
    options.check()?;
    let started_at = Instant::now();
    let disk_service = connection
        .system_service()
        .disks_service()
        .disk_service(disk);
    let disk_value = ready_disk(&disk_service, options.wait_timeout).await?;
    let format = options.format.clone().unwrap_or(DiskFormat::Raw);
    if format == DiskFormat::Cow && disk_value.format == Some(DiskFormat::Raw) {
        return Err(Error::with_message(
            ErrorKind::InvalidRequest,
            "a raw disk has no qcow2 image to download: use format raw",
        ));
    }
    let output = open_destination(destination).await?;
    let started = start_transfer(
        connection,
        disk,
        ImageTransferDirection::Download,
        format.clone(),
        options,
    )
    .await?;
    let mut stats = TransferStats::new(started.id.clone(), 0);
    let fetched = async {
        let (imageio, server) = open_data_path(
            connection,
            &started,
            &disk_service,
            options,
            |s| s.max_readers,
            &mut stats,
        )
        .await?;
        let extents = image_extents(&imageio, &server, &disk_value, &format, options).await?;
        stats.size = extents.last().map_or(0, |e| e.start + e.length);
        fetch_pieces(&imageio, output, &extents, options, &mut stats).await
    }
    .await;
    conclude(started, &disk_service, options, fetched, stats, started_at).await
}

/// The extents to fetch: imageio's (when it has `extents` and zeros are skipped), else the
/// whole image as data.
async fn image_extents(
    imageio: &Imageio,
    server: &ServerOptions,
    disk: &Disk,
    format: &DiskFormat,
    options: &TransferOptions,
) -> Result<Vec<imageio::Extent>, Error> {
    let whole = |size: u64| {
        if size == 0 {
            Vec::new()
        } else {
            vec![imageio::Extent {
                start: 0,
                length: size,
                zero: false,
            }]
        }
    };
    if server.extents {
        let extents = imageio.extents().await?;
        if options.zero_ranges {
            return Ok(extents);
        }
        return Ok(whole(extents.last().map_or(0, |e| e.start + e.length)));
    }
    if let Some(size) = imageio.size(options.retries).await? {
        return Ok(whole(size));
    }
    match (format, disk.provisioned_size) {
        (DiskFormat::Raw, Some(p)) if p >= 0 => Ok(whole(p as u64)),
        _ => Err(Error::with_message(
            ErrorKind::UnexpectedResponse,
            "imageio gives no extents and no Content-Range: the image's size is unknown",
        )),
    }
}

/// Fetches the data extents in chunks, at most connections x pipeline at once, and hands
/// them in order to the writing thread.
async fn fetch_pieces(
    imageio: &Imageio,
    output: Output,
    extents: &[imageio::Extent],
    options: &TransferOptions,
    stats: &mut TransferStats,
) -> Result<(), Error> {
    let window = stats.connections * options.pipeline;
    let size = stats.size;
    let (tx, rx) = mpsc::channel::<WriteOp>(2);
    let writer = tokio::task::spawn_blocking(move || sink::consume(output, size, rx));
    let mut meter = Meter {
        done: 0,
        total: size,
        callback: options.progress.clone(),
    };
    // Zero ranges wait in order with the fetches.
    let mut in_flight = InFlight::<WriteOp>::new();
    let mut fetches = 0usize;
    let chunk = options.chunk_size as u64;
    let result: Result<(), Error> = async {
        for extent in extents {
            if extent.zero {
                stats.zero_bytes += extent.length;
                let op = WriteOp::Zero {
                    offset: extent.start,
                    len: extent.length,
                };
                in_flight.tasks.push_back((
                    extent.length,
                    tokio::spawn(async move { Ok::<_, Error>(op) }),
                ));
                continue;
            }
            let end = extent.start + extent.length;
            let mut offset = extent.start;
            while offset < end {
                let len = chunk.min(end - offset);
                while fetches >= window {
                    let Some(done) = in_flight.next().await else {
                        break;
                    };
                    let (n, op) = done?;
                    if matches!(op, WriteOp::Data { .. }) {
                        fetches -= 1;
                    }
                    hand_over(&tx, op).await?;
                    meter.add(n);
                }
                let io = imageio.clone();
                let retries = options.retries;
                let at = offset;
                in_flight.tasks.push_back((
                    len,
                    tokio::spawn(async move {
                        let data = io.get(at, len, retries).await?;
                        Ok(WriteOp::Data { offset: at, data })
                    }),
                ));
                fetches += 1;
                stats.requests += 1;
                stats.data_bytes += len;
                offset += len;
            }
        }
        while let Some(done) = in_flight.next().await {
            let (n, op) = done?;
            hand_over(&tx, op).await?;
            meter.add(n);
        }
        Ok(())
    }
    .await;
    drop(tx);
    let written = writer.await;
    // A failure of the writing side explains a failed hand-over: it comes first.
    match written {
        Ok(Err(f)) => Err(Error::with_message(
            ErrorKind::InvalidRequest,
            format!(
                "writing the destination at offset {}: {}",
                f.offset, f.error
            ),
        )),
        Err(e) => Err(internal("writing the destination", e)),
        Ok(Ok(())) => result,
    }
}

/// Gives `op` to the writing thread; fails if it stopped (its own error is reported).
async fn hand_over(tx: &mpsc::Sender<WriteOp>, op: WriteOp) -> Result<(), Error> {
    tx.send(op).await.map_err(|_| {
        Error::with_message(
            ErrorKind::InvalidRequest,
            "the destination stopped accepting data",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disk(format: DiskFormat, size: i64) -> Disk {
        Disk::new().format(format).provisioned_size(size)
    }

    #[test]
    fn the_format_follows_the_file_and_mismatches_are_refused() {
        let raw = disk(DiskFormat::Raw, 1 << 20);
        let cow = disk(DiskFormat::Cow, 1 << 20);
        assert_eq!(
            choose_upload_format(None, &raw, false, 100).unwrap(),
            DiskFormat::Raw
        );
        assert_eq!(
            choose_upload_format(None, &cow, true, 100).unwrap(),
            DiskFormat::Cow
        );
        assert_eq!(
            choose_upload_format(None, &cow, false, 100).unwrap(),
            DiskFormat::Raw
        );
        let e = choose_upload_format(Some(&DiskFormat::Raw), &raw, true, 100).unwrap_err();
        assert!(e.to_string().contains("qcow2"), "{e}");
        let e = choose_upload_format(None, &raw, true, 100).unwrap_err();
        assert!(e.to_string().contains("raw disk"), "{e}");
        let e = choose_upload_format(Some(&DiskFormat::Cow), &cow, false, 100).unwrap_err();
        assert!(e.to_string().contains("not a qcow2"), "{e}");
        let e = choose_upload_format(None, &raw, false, 2 << 20).unwrap_err();
        assert!(e.to_string().contains("provisioned_size"), "{e}");
    }

    #[test]
    fn options_are_checked() {
        assert!(TransferOptions::new().check().is_ok());
        assert!(TransferOptions::new().chunk_size(10).check().is_err());
        assert!(TransferOptions::new().connections(0).check().is_err());
        assert!(TransferOptions::new().pipeline(0).check().is_err());
        let text = format!("{:?}", TransferOptions::new().progress(|_| {}));
        assert!(text.contains("progress: true"), "{text}");
    }
}
