//! The writing side of a download, on a blocking thread: a file (its size set first,
//! zero ranges and all-zero chunks left as holes) or any writer (zeros written out).

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};

use bytes::Bytes;
use tokio::sync::mpsc;

use super::source::is_zero;

/// What is written, in order.
#[derive(Debug)]
pub(crate) enum WriteOp {
    /// Bytes at `offset`.
    Data { offset: u64, data: Bytes },
    /// `len` zero bytes at `offset`.
    Zero { offset: u64, len: u64 },
}

/// Where a download goes.
pub(crate) enum Output {
    /// A file opened for writing (truncated); it is extended to the image's size.
    File(File),
    /// Any writer: written from the start, in order, zeros included.
    Writer(Box<dyn Write + Send>),
}

/// A failure of the writing side: what and where.
#[derive(Debug)]
pub(crate) struct WriteFailure {
    pub(crate) offset: u64,
    pub(crate) error: io::Error,
}

/// Writes what arrives on `rx` until it closes; the image is `size` bytes.
pub(crate) fn consume(
    output: Output,
    size: u64,
    mut rx: mpsc::Receiver<WriteOp>,
) -> Result<(), WriteFailure> {
    match output {
        Output::File(mut f) => {
            f.set_len(size)
                .map_err(|error| WriteFailure { offset: 0, error })?;
            while let Some(op) = rx.blocking_recv() {
                let WriteOp::Data { offset, data } = op else {
                    // The file reads zeros there already (a hole).
                    continue;
                };
                if is_zero(&data) {
                    continue;
                }
                f.seek(SeekFrom::Start(offset))
                    .and_then(|_| f.write_all(&data))
                    .map_err(|error| WriteFailure { offset, error })?;
            }
            f.flush().map_err(|error| WriteFailure {
                offset: size,
                error,
            })
        }
        Output::Writer(mut w) => {
            let zeros = vec![0u8; 1 << 20];
            let mut at = 0u64;
            while let Some(op) = rx.blocking_recv() {
                let (offset, len) = match &op {
                    WriteOp::Data { offset, data } => (*offset, data.len() as u64),
                    WriteOp::Zero { offset, len } => (*offset, *len),
                };
                if offset != at {
                    return Err(WriteFailure {
                        offset: at,
                        error: io::Error::other(format!(
                            "out of order: {len} bytes at offset {offset}"
                        )),
                    });
                }
                let written = match op {
                    WriteOp::Data { data, .. } => w.write_all(&data),
                    WriteOp::Zero { len, .. } => {
                        let mut left = len;
                        let mut r = Ok(());
                        while left > 0 && r.is_ok() {
                            let n = left.min(zeros.len() as u64) as usize;
                            r = w.write_all(&zeros[..n]);
                            left -= n as u64;
                        }
                        r
                    }
                };
                written.map_err(|error| WriteFailure { offset, error })?;
                at += len;
            }
            w.flush()
                .map_err(|error| WriteFailure { offset: at, error })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_writer_gets_zeros_for_zero_ranges_in_order() {
        let out = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel(8);
        tx.try_send(WriteOp::Data {
            offset: 0,
            data: Bytes::from_static(b"ab"),
        })
        .unwrap();
        tx.try_send(WriteOp::Zero { offset: 2, len: 3 }).unwrap();
        tx.try_send(WriteOp::Data {
            offset: 5,
            data: Bytes::from_static(b"c"),
        })
        .unwrap();
        drop(tx);
        consume(Output::Writer(Box::new(Shared(out.clone()))), 6, rx).unwrap();
        assert_eq!(&*out.lock().unwrap(), b"ab\0\0\0c");
    }

    #[test]
    fn a_writer_refuses_a_gap() {
        let (tx, rx) = mpsc::channel(8);
        tx.try_send(WriteOp::Zero { offset: 4, len: 3 }).unwrap();
        drop(tx);
        let e = consume(Output::Writer(Box::new(io::sink())), 7, rx).unwrap_err();
        assert_eq!(e.offset, 0);
    }
}
