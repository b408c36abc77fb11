//! A latency emulator: a TCP proxy on 127.0.0.1 that delays every byte by a fixed
//! one-way time in each direction.
//!
//! The kernel of the machines this project runs on has no `netem`, so every latency
//! experiment goes through [`LatencyProxy`].
//!
//! # How the delay is applied
//!
//! Each direction of each proxied connection is a timestamped queue. A reader reads
//! whatever the socket has, stamps the chunk with `deadline = now + d` and pushes it
//! into an unbounded channel at once; a writer pops chunks in order, waits until
//! their deadline and writes them. Bytes read at time `t` therefore leave at `t + d`
//! (or later, if the receiving socket applies back-pressure), and the delay is never
//! a sleep per chunk: many chunks can be "on the wire" at the same time, which is
//! exactly what lets pipelined requests overlap.
//!
//! The one-way delay `d` is half the round-trip time given to [`LatencyProxy::start`].
//! A round-trip time of zero makes the proxy a plain pass-through that never sleeps.
//!
//! Deadlines are kept by a timer thread of the proxy's own rather than by tokio's
//! timer: tokio rounds every deadline up to the next whole millisecond, which made a
//! 2 ms round trip take about 4 ms. The thread waits with the operating system's
//! high-resolution timeout (tens of microseconds late at most on an idle machine)
//! and wakes the writer through a oneshot channel.
//!
//! End of stream travels like data: when a reader sees EOF, the writer of that
//! direction shuts its socket's write half down (a half-close) once the preceding
//! bytes and the delay have passed; when both directions have ended, both sockets
//! are closed. A read or write error (a reset) in either direction closes both
//! sockets, once the bytes queued before it have been delivered.

use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::{JoinHandle, JoinSet};

/// How many bytes a reader asks the socket for at most in one read.
const READ_CHUNK: usize = 64 * 1024;

/// A running latency-emulating TCP proxy.
///
/// It listens on an ephemeral port of 127.0.0.1 and forwards every accepted
/// connection to a fixed upstream address, delaying the bytes by half the
/// round-trip time in each direction. Dropping the value stops the proxy and
/// closes every connection it carries.
#[derive(Debug)]
pub struct LatencyProxy {
    addr: SocketAddr,
    rtt: Duration,
    connections: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl LatencyProxy {
    /// Starts a proxy in front of `upstream` with the given round-trip time.
    ///
    /// Must be called from inside a tokio runtime. The returned proxy listens on
    /// [`LatencyProxy::addr`]. An upstream that refuses a connection makes the
    /// proxy close the client's connection at once.
    pub async fn start(upstream: SocketAddr, rtt: Duration) -> io::Result<LatencyProxy> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let one_way = rtt / 2;
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = connections.clone();
        let timer = Timer::start()?;
        let task = tokio::spawn(async move {
            // The JoinSet owns every connection task: dropping it (when this task is
            // aborted) aborts them, which closes their sockets.
            let mut conns = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((client, _)) = accepted else {
                            // Accept errors (e.g. too many open files) are transient;
                            // the listener stays usable.
                            continue;
                        };
                        counter.fetch_add(1, Ordering::Relaxed);
                        conns.spawn(proxy_connection(client, upstream, one_way, timer.clone()));
                    }
                    Some(_) = conns.join_next(), if !conns.is_empty() => {}
                }
            }
        });
        Ok(LatencyProxy {
            addr,
            rtt,
            connections,
            task,
        })
    }

    /// The address the proxy listens on; connect here instead of the upstream.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The round-trip time the proxy adds.
    pub fn rtt(&self) -> Duration {
        self.rtt
    }

    /// The delay applied in each direction: half the round-trip time.
    pub fn one_way_delay(&self) -> Duration {
        self.rtt / 2
    }

    /// How many client connections the proxy has accepted so far.
    pub fn connections_accepted(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }
}

impl Drop for LatencyProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One item of a direction's queue.
enum Segment {
    /// Bytes to write once the deadline has passed.
    Data(Instant, Bytes),
    /// The sender half-closed: shut down the write half once the deadline has passed.
    Eof(Instant),
    /// Reading failed (e.g. a reset): close the whole connection at the deadline.
    Reset(Instant),
}

/// How one direction ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The stream ended cleanly and the end was passed on as a half-close.
    Eof,
    /// A read or write failed; the whole connection must be closed.
    Reset,
}

async fn proxy_connection(
    client: TcpStream,
    upstream: SocketAddr,
    one_way: Duration,
    timer: Timer,
) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        // Dropping the client socket closes it: the closest thing to a refusal.
        return;
    };
    // The proxy must not add Nagle delays of its own on top of the emulated ones.
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();

    let mut upstream_dir = pin!(direction(client_read, server_write, one_way, timer.clone()));
    let mut downstream_dir = pin!(direction(server_read, client_write, one_way, timer));
    let (mut up_done, mut down_done) = (false, false);
    while !(up_done && down_done) {
        let end = tokio::select! {
            end = &mut upstream_dir, if !up_done => { up_done = true; end }
            end = &mut downstream_dir, if !down_done => { down_done = true; end }
        };
        if end == End::Reset {
            // Returning drops all four halves: both sockets are closed.
            return;
        }
    }
}

/// Moves bytes from `from` to `to`, each chunk delayed by `delay` after it was read.
async fn direction(from: OwnedReadHalf, to: OwnedWriteHalf, delay: Duration, timer: Timer) -> End {
    let (tx, rx) = mpsc::unbounded_channel();
    let reader = read_side(from, tx, delay);
    let writer = write_side(rx, to, delay, timer);
    // The reader ends first (it pushes the final Eof or Reset), the writer when it
    // has delivered it, or earlier if writing fails; the writer's result decides.
    let mut writer = pin!(writer);
    let mut reader = pin!(reader);
    let mut reader_done = false;
    loop {
        tokio::select! {
            () = &mut reader, if !reader_done => reader_done = true,
            end = &mut writer => return end,
        }
    }
}

async fn read_side(mut from: OwnedReadHalf, tx: mpsc::UnboundedSender<Segment>, delay: Duration) {
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    loop {
        if buf.capacity() < READ_CHUNK / 4 {
            buf.reserve(READ_CHUNK);
        }
        let result = from.read_buf(&mut buf).await;
        let deadline = Instant::now() + delay;
        let segment = match result {
            Ok(0) => Segment::Eof(deadline),
            Ok(_) => Segment::Data(deadline, buf.split().freeze()),
            Err(_) => Segment::Reset(deadline),
        };
        let last = !matches!(segment, Segment::Data(..));
        if tx.send(segment).is_err() || last {
            // The writer is gone (its socket failed) or the stream has ended.
            return;
        }
    }
}

async fn write_side(
    mut rx: mpsc::UnboundedReceiver<Segment>,
    mut to: OwnedWriteHalf,
    delay: Duration,
    timer: Timer,
) -> End {
    let wait = |deadline: Instant| {
        let timer = &timer;
        async move {
            if !delay.is_zero() {
                timer.wait_until(deadline).await;
            }
        }
    };
    while let Some(segment) = rx.recv().await {
        match segment {
            Segment::Data(deadline, bytes) => {
                wait(deadline).await;
                if to.write_all(&bytes).await.is_err() {
                    return End::Reset;
                }
            }
            Segment::Eof(deadline) => {
                wait(deadline).await;
                return match to.shutdown().await {
                    Ok(()) => End::Eof,
                    Err(_) => End::Reset,
                };
            }
            Segment::Reset(deadline) => {
                wait(deadline).await;
                return End::Reset;
            }
        }
    }
    // The reader always sends a final segment before it ends, so this is only
    // reached if it was cancelled; treat it as a failure.
    End::Reset
}

/// A deadline and the writer to wake when it has passed.
struct Alarm {
    deadline: Instant,
    wake: oneshot::Sender<()>,
}

/// A handle to the proxy's timer thread; see the module documentation.
#[derive(Debug, Clone)]
struct Timer {
    alarms: std::sync::mpsc::Sender<Alarm>,
}

impl Timer {
    /// Starts the thread; it ends once every handle is dropped and no alarm is pending.
    fn start() -> io::Result<Timer> {
        let (alarms, rx) = std::sync::mpsc::channel::<Alarm>();
        std::thread::Builder::new()
            .name("latency-timer".into())
            .spawn(move || run_timer(rx))?;
        Ok(Timer { alarms })
    }

    /// Returns once `deadline` has passed.
    async fn wait_until(&self, deadline: Instant) {
        if Instant::now() >= deadline {
            return;
        }
        let (wake, woken) = oneshot::channel();
        if self.alarms.send(Alarm { deadline, wake }).is_ok() && woken.await.is_ok() {
            return;
        }
        // The timer thread is gone (it cannot be while a handle exists, but a
        // coarser wait is better than none).
        tokio::time::sleep_until(deadline.into()).await;
    }
}

/// An alarm waiting in the timer thread's heap, ordered by deadline, then arrival.
struct Queued {
    deadline: Instant,
    seq: u64,
    wake: oneshot::Sender<()>,
}

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        (self.deadline, self.seq) == (other.deadline, other.seq)
    }
}

impl Eq for Queued {}

impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Queued {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.deadline, self.seq).cmp(&(other.deadline, other.seq))
    }
}

fn run_timer(rx: std::sync::mpsc::Receiver<Alarm>) {
    use std::sync::mpsc::RecvTimeoutError;
    // Linux lets a thread's timed waits end up to 50 µs late by default (timer
    // slack, for batching wake-ups); this thread wants its deadlines kept.
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_TIMERSLACK only changes a property of the calling thread.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong);
    }
    let mut heap: BinaryHeap<Reverse<Queued>> = BinaryHeap::new();
    let mut seq = 0u64;
    let mut open = true;
    loop {
        let now = Instant::now();
        while heap.peek().is_some_and(|next| next.0.deadline <= now) {
            if let Some(Reverse(due)) = heap.pop() {
                // The writer may have been dropped meanwhile; nothing to do then.
                let _ = due.wake.send(());
            }
        }
        let next_deadline = heap.peek().map(|next| next.0.deadline);
        let received = match next_deadline {
            None if !open => return,
            None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            // recv_timeout waits with the OS's high-resolution timeout.
            Some(deadline) if open => rx.recv_timeout(deadline.saturating_duration_since(now)),
            Some(deadline) => {
                std::thread::sleep(deadline.saturating_duration_since(now));
                continue;
            }
        };
        match received {
            Ok(Alarm { deadline, wake }) => {
                heap.push(Reverse(Queued {
                    deadline,
                    seq,
                    wake,
                }));
                seq += 1;
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => open = false,
        }
    }
}
