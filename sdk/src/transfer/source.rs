//! The reading side of an upload, on a blocking thread: the data extents of a file
//! (`SEEK_DATA`/`SEEK_HOLE` on Linux), chunks of at most the chunk size, all-zero chunks
//! and holes merged into zero ranges.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};

use bytes::Bytes;
use tokio::sync::mpsc;

/// The first bytes of a qcow2 image.
pub(crate) const QCOW2_MAGIC: &[u8; 4] = b"QFI\xfb";

/// The longest zero range sent as one request: progress keeps moving and no single
/// request takes very long on storage that zeroes slowly.
const MAX_ZERO_RANGE: u64 = 1 << 30;

/// A piece of the image, in order.
#[derive(Debug)]
pub(crate) enum Piece {
    /// Bytes to write at `offset`.
    Data { offset: u64, data: Bytes },
    /// `len` zero bytes at `offset`, written without sending them.
    Zero { offset: u64, len: u64 },
}

/// What is read: a file (whose holes are found) or any reader.
pub(crate) enum Input {
    File(File),
    Reader(Box<dyn Read + Send>),
}

/// How the pieces are cut.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cutting {
    pub(crate) chunk_size: usize,
    /// Holes and all-zero chunks become [`Piece::Zero`]; otherwise everything is data.
    pub(crate) zero_ranges: bool,
}

/// True if every byte is zero (written so that the compiler vectorises it).
pub(crate) fn is_zero(buf: &[u8]) -> bool {
    buf.chunks(4096)
        .all(|c| c.iter().fold(0u8, |acc, b| acc | b) == 0)
}

/// Reads up to 4 bytes from the start of `input` and tells whether they are the qcow2
/// magic; the input is returned ready to be read from the start.
pub(crate) fn sniff(input: Input) -> io::Result<(Input, bool)> {
    match input {
        Input::File(mut f) => {
            let mut head = [0u8; 4];
            let n = read_full(&mut f, &mut head)?;
            f.seek(SeekFrom::Start(0))?;
            Ok((Input::File(f), n == 4 && &head == QCOW2_MAGIC))
        }
        Input::Reader(mut r) => {
            let mut head = [0u8; 4];
            let n = read_full(&mut r, &mut head)?;
            let qcow2 = n == 4 && &head == QCOW2_MAGIC;
            let chained: Box<dyn Read + Send> =
                Box::new(io::Cursor::new(head[..n].to_vec()).chain(r));
            Ok((Input::Reader(chained), qcow2))
        }
    }
}

/// Reads until `buf` is full or the end; returns how much was read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// A failure of the reading side: what and where.
#[derive(Debug)]
pub(crate) struct ReadFailure {
    pub(crate) offset: u64,
    pub(crate) error: io::Error,
}

/// Emits pieces into a channel, merging neighbouring zero ranges.
struct Emitter {
    tx: mpsc::Sender<Piece>,
    zero: Option<(u64, u64)>,
    cutting: Cutting,
    /// One chunk of zeros, sliced for holes when zero ranges are off.
    zeros: Option<Bytes>,
}

/// The receiver is gone: the transfer stopped, nothing more to do.
struct Stopped;

impl Emitter {
    fn send(&mut self, piece: Piece) -> Result<(), Stopped> {
        self.tx.blocking_send(piece).map_err(|_| Stopped)
    }

    fn flush_zero(&mut self) -> Result<(), Stopped> {
        if let Some((offset, len)) = self.zero.take() {
            self.send(Piece::Zero { offset, len })?;
        }
        Ok(())
    }

    /// `len` zero bytes at `offset` (a hole or an all-zero chunk).
    fn zeros(&mut self, offset: u64, len: u64) -> Result<(), Stopped> {
        if !self.cutting.zero_ranges {
            // Sent as data: slices of one shared buffer, no memory per chunk.
            let chunk = self.cutting.chunk_size as u64;
            let zeros = self
                .zeros
                .get_or_insert_with(|| Bytes::from(vec![0u8; chunk as usize]))
                .clone();
            let mut at = offset;
            while at < offset + len {
                let n = chunk.min(offset + len - at);
                self.send(Piece::Data {
                    offset: at,
                    data: zeros.slice(..n as usize),
                })?;
                at += n;
            }
            return Ok(());
        }
        match &mut self.zero {
            Some((start, run)) if *start + *run == offset && *run + len <= MAX_ZERO_RANGE => {
                *run += len;
            }
            _ => {
                self.flush_zero()?;
                self.zero = Some((offset, len));
            }
        }
        Ok(())
    }

    /// A chunk read at `offset`.
    fn data(&mut self, offset: u64, data: Vec<u8>) -> Result<(), Stopped> {
        if self.cutting.zero_ranges && is_zero(&data) {
            return self.zeros(offset, data.len() as u64);
        }
        self.flush_zero()?;
        self.send(Piece::Data {
            offset,
            data: Bytes::from(data),
        })
    }
}

/// Reads `size` bytes of `input` and sends its pieces to `tx` in order. Returns early
/// (with `Ok`) when the receiver is gone.
pub(crate) fn produce(
    input: Input,
    size: u64,
    cutting: Cutting,
    tx: mpsc::Sender<Piece>,
) -> Result<(), ReadFailure> {
    let mut out = Emitter {
        tx,
        zero: None,
        cutting,
        zeros: None,
    };
    let result = match input {
        Input::File(f) => produce_file(f, size, &mut out),
        Input::Reader(r) => produce_reader(r, size, &mut out),
    };
    match result {
        Ok(Ok(())) => match out.flush_zero() {
            Ok(()) | Err(Stopped) => Ok(()),
        },
        Ok(Err(Stopped)) => Ok(()),
        Err(e) => Err(e),
    }
}

type Produced = Result<Result<(), Stopped>, ReadFailure>;

fn produce_reader(mut r: Box<dyn Read + Send>, size: u64, out: &mut Emitter) -> Produced {
    let chunk = out.cutting.chunk_size as u64;
    let mut offset = 0;
    while offset < size {
        let n = chunk.min(size - offset) as usize;
        let mut buf = vec![0u8; n];
        let got = read_full(&mut r, &mut buf).map_err(|error| ReadFailure { offset, error })?;
        if got < n {
            return Err(ReadFailure {
                offset: offset + got as u64,
                error: io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "the source ended after {} bytes, but its size was given as {size}",
                        offset + got as u64
                    ),
                ),
            });
        }
        if let Err(s) = out.data(offset, buf) {
            return Ok(Err(s));
        }
        offset += n as u64;
    }
    Ok(Ok(()))
}

fn produce_file(mut f: File, size: u64, out: &mut Emitter) -> Produced {
    let regions = if out.cutting.zero_ranges {
        data_regions(&f, size)
    } else {
        // Holes are sent as zeros anyway: no need to find them.
        None
    };
    let regions = regions.unwrap_or_else(|| vec![(0, size)]);
    let chunk = out.cutting.chunk_size as u64;
    let mut at = 0u64;
    for (start, end) in regions {
        if start > at {
            if let Err(s) = out.zeros(at, start - at) {
                return Ok(Err(s));
            }
        }
        f.seek(SeekFrom::Start(start))
            .map_err(|error| ReadFailure {
                offset: start,
                error,
            })?;
        let mut offset = start;
        while offset < end {
            let n = chunk.min(end - offset) as usize;
            let mut buf = vec![0u8; n];
            let got = read_full(&mut f, &mut buf).map_err(|error| ReadFailure { offset, error })?;
            if got < n {
                return Err(ReadFailure {
                    offset: offset + got as u64,
                    error: io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the file became shorter while it was read",
                    ),
                });
            }
            if let Err(s) = out.data(offset, buf) {
                return Ok(Err(s));
            }
            offset += n as u64;
        }
        at = end;
    }
    if at < size {
        if let Err(s) = out.zeros(at, size - at) {
            return Ok(Err(s));
        }
    }
    Ok(Ok(()))
}

/// The data regions `(start, end)` of the first `size` bytes of `f`, in order, from
/// `SEEK_DATA`/`SEEK_HOLE`; `None` where the system cannot tell (then everything is data).
#[cfg(target_os = "linux")]
pub(crate) fn data_regions(f: &File, size: u64) -> Option<Vec<(u64, u64)>> {
    use std::os::fd::AsRawFd;

    /// `lseek` with `whence`; `Ok(None)` for ENXIO (no data at or after `offset`).
    fn seek(f: &File, offset: u64, whence: libc::c_int) -> io::Result<Option<u64>> {
        let off = libc::off_t::try_from(offset)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "offset too large"))?;
        // SAFETY: lseek on a file descriptor that `f` keeps open; it only moves the
        // file's position (every read here seeks first).
        let r = unsafe { libc::lseek(f.as_raw_fd(), off, whence) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::ENXIO) {
                return Ok(None);
            }
            return Err(e);
        }
        Ok(Some(r as u64))
    }

    let mut regions = Vec::new();
    let mut at = 0u64;
    while at < size {
        let data = match seek(f, at, libc::SEEK_DATA) {
            Ok(Some(d)) => d,
            Ok(None) => break,
            // EINVAL/EOPNOTSUPP: the file system cannot say; read everything.
            Err(_) => return None,
        };
        if data >= size {
            break;
        }
        let hole = match seek(f, data, libc::SEEK_HOLE) {
            Ok(Some(h)) => h.min(size),
            Ok(None) => size,
            Err(_) => return None,
        };
        if hole <= data {
            // Not a sensible answer: do not trust the hole map.
            return None;
        }
        regions.push((data, hole));
        at = hole;
    }
    Some(regions)
}

/// Without `SEEK_DATA` (not Linux) the whole file is data; all-zero chunks are still found.
#[cfg(not(target_os = "linux"))]
pub(crate) fn data_regions(_f: &File, _size: u64) -> Option<Vec<(u64, u64)>> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(input: Input, size: u64, cutting: Cutting) -> Vec<Piece> {
        let (tx, mut rx) = mpsc::channel(1024);
        produce(input, size, cutting, tx).unwrap();
        let mut out = Vec::new();
        while let Ok(p) = rx.try_recv() {
            out.push(p);
        }
        out
    }

    fn shape(pieces: &[Piece]) -> Vec<(char, u64, u64)> {
        pieces
            .iter()
            .map(|p| match p {
                Piece::Data { offset, data } => ('d', *offset, data.len() as u64),
                Piece::Zero { offset, len } => ('z', *offset, *len),
            })
            .collect()
    }

    #[test]
    fn zero_chunks_of_a_reader_merge_into_one_range() {
        let mut image = vec![0u8; 40];
        image[0] = 1;
        image[39] = 2;
        let cutting = Cutting {
            chunk_size: 8,
            zero_ranges: true,
        };
        let pieces = collect(Input::Reader(Box::new(io::Cursor::new(image))), 40, cutting);
        assert_eq!(
            shape(&pieces),
            vec![('d', 0, 8), ('z', 8, 24), ('d', 32, 8)]
        );
    }

    #[test]
    fn without_zero_ranges_everything_is_data() {
        let cutting = Cutting {
            chunk_size: 8,
            zero_ranges: false,
        };
        let pieces = collect(
            Input::Reader(Box::new(io::Cursor::new(vec![0u8; 20]))),
            20,
            cutting,
        );
        assert_eq!(shape(&pieces), vec![('d', 0, 8), ('d', 8, 8), ('d', 16, 4)]);
    }

    #[test]
    fn a_short_reader_is_an_error_naming_the_offset() {
        let (tx, _rx) = mpsc::channel(16);
        let cutting = Cutting {
            chunk_size: 8,
            zero_ranges: true,
        };
        let e = produce(
            Input::Reader(Box::new(io::Cursor::new(vec![1u8; 10]))),
            20,
            cutting,
            tx,
        )
        .unwrap_err();
        assert_eq!(e.offset, 10);
        assert!(e.error.to_string().contains("given as 20"), "{}", e.error);
    }

    #[test]
    fn qcow2_magic_is_recognised_and_the_reader_still_starts_at_zero() {
        let (input, qcow2) = sniff(Input::Reader(Box::new(io::Cursor::new(
            b"QFI\xfbrest".to_vec(),
        ))))
        .unwrap();
        assert!(qcow2);
        let Input::Reader(mut r) = input else {
            panic!()
        };
        let mut all = Vec::new();
        r.read_to_end(&mut all).unwrap();
        assert_eq!(all, b"QFI\xfbrest");
        let (_, qcow2) = sniff(Input::Reader(Box::new(io::Cursor::new(b"QF".to_vec())))).unwrap();
        assert!(!qcow2);
    }

    #[test]
    fn holes_of_a_sparse_file_become_zero_ranges() {
        use std::io::Write;
        let dir = std::env::temp_dir().join(format!("ovirt-source-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("sparse.img");
        let mut f = File::create(&path).unwrap();
        let mib = 1u64 << 20;
        f.set_len(64 * mib).unwrap();
        f.seek(SeekFrom::Start(16 * mib)).unwrap();
        f.write_all(&vec![7u8; mib as usize]).unwrap();
        drop(f);
        let cutting = Cutting {
            chunk_size: mib as usize,
            zero_ranges: true,
        };
        let pieces = collect(Input::File(File::open(&path).unwrap()), 64 * mib, cutting);
        let data: u64 = pieces
            .iter()
            .map(|p| match p {
                Piece::Data { data, .. } => data.len() as u64,
                Piece::Zero { .. } => 0,
            })
            .sum();
        let zero: u64 = pieces
            .iter()
            .map(|p| match p {
                Piece::Zero { len, .. } => *len,
                Piece::Data { .. } => 0,
            })
            .sum();
        // Whatever the file system allocated around the write, the data is there and the
        // rest is zero ranges.
        assert_eq!(data + zero, 64 * mib);
        assert!(data >= mib && data < 64 * mib, "{data}");
        // The hole map (where the system has one) covers the written megabyte and stays
        // within the file.
        if let Some(regions) = data_regions(&File::open(&path).unwrap(), 64 * mib) {
            assert!(regions.windows(2).all(|w| w[0].1 <= w[1].0), "{regions:?}");
            assert!(regions.iter().all(|(s, e)| s < e && *e <= 64 * mib));
            assert!(regions
                .iter()
                .any(|(s, e)| *s <= 16 * mib && *e >= 17 * mib));
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
