//! A disk image held sparsely: only the chunks that hold data are kept, so a 4 GiB disk
//! with a few MiB written costs a few MiB.
//!
//! The image is a map from chunk index to a chunk of [`CHUNK`] bytes. Reading an absent
//! chunk gives zeros; writing zeros into an absent chunk allocates nothing (as a
//! deduplicating storage would); zeroing a whole chunk drops it. The extents are the runs
//! of present chunks (data) and of absent ones (zero), cut at the image's size.

use std::collections::BTreeMap;

/// Size of one chunk of the image.
pub(crate) const CHUNK: usize = 64 * 1024;
const CHUNK64: u64 = CHUNK as u64;

/// One extent of an image: `length` bytes at `start`, reading as zeros or as data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    /// Offset of the first byte.
    pub start: u64,
    /// Number of bytes.
    pub length: u64,
    /// Whether the extent reads as zeros (no data is stored for it).
    pub zero: bool,
}

/// The bytes of one disk.
#[derive(Default)]
pub(crate) struct SparseImage {
    chunks: BTreeMap<u64, Box<[u8]>>,
}

fn all_zero(data: &[u8]) -> bool {
    // Compare eight bytes at a time; the tail byte by byte.
    let (head, tail) = data.split_at(data.len() - data.len() % 8);
    head.chunks_exact(8)
        .all(|w| u64::from_ne_bytes(w.try_into().unwrap_or([1; 8])) == 0)
        && tail.iter().all(|&b| b == 0)
}

impl SparseImage {
    /// Writes `data` at `offset`.
    pub(crate) fn write(&mut self, offset: u64, mut data: &[u8]) {
        let mut pos = offset;
        while !data.is_empty() {
            let index = pos / CHUNK64;
            let within = (pos % CHUNK64) as usize;
            let n = (CHUNK - within).min(data.len());
            let (piece, rest) = data.split_at(n);
            match self.chunks.get_mut(&index) {
                Some(chunk) => chunk[within..within + n].copy_from_slice(piece),
                None if all_zero(piece) => {}
                None => {
                    let mut chunk = vec![0u8; CHUNK].into_boxed_slice();
                    chunk[within..within + n].copy_from_slice(piece);
                    self.chunks.insert(index, chunk);
                }
            }
            data = rest;
            pos += n as u64;
        }
    }

    /// Makes `length` bytes at `offset` read as zeros, dropping the chunks covered whole.
    pub(crate) fn zero(&mut self, offset: u64, length: u64) {
        let end = offset.saturating_add(length);
        let mut pos = offset;
        while pos < end {
            let index = pos / CHUNK64;
            let within = (pos % CHUNK64) as usize;
            let n = (CHUNK64 - within as u64).min(end - pos) as usize;
            if within == 0 && n == CHUNK {
                // Whole chunks: drop every one up to the last whole chunk at once.
                let last = end / CHUNK64; // first chunk not wholly covered
                let doomed: Vec<u64> = self.chunks.range(index..last).map(|(k, _)| *k).collect();
                for k in doomed {
                    self.chunks.remove(&k);
                }
                pos = last * CHUNK64;
                continue;
            }
            if let Some(chunk) = self.chunks.get_mut(&index) {
                chunk[within..within + n].fill(0);
                if all_zero(chunk) {
                    self.chunks.remove(&index);
                }
            }
            pos += n as u64;
        }
    }

    /// Reads `out.len()` bytes at `offset` into `out`.
    pub(crate) fn read(&self, offset: u64, out: &mut [u8]) {
        let mut pos = offset;
        let mut done = 0;
        while done < out.len() {
            let index = pos / CHUNK64;
            let within = (pos % CHUNK64) as usize;
            let n = (CHUNK - within).min(out.len() - done);
            let dst = &mut out[done..done + n];
            match self.chunks.get(&index) {
                Some(chunk) => dst.copy_from_slice(&chunk[within..within + n]),
                None => dst.fill(0),
            }
            done += n;
            pos += n as u64;
        }
    }

    /// Whether any data is stored for the `length` bytes at `offset`.
    pub(crate) fn has_data(&self, offset: u64, length: u64) -> bool {
        if length == 0 {
            return false;
        }
        let first = offset / CHUNK64;
        let last = (offset + length - 1) / CHUNK64;
        self.chunks.range(first..=last).next().is_some()
    }

    /// Bytes of data stored (whole chunks), at most `size`.
    pub(crate) fn allocated(&self, size: u64) -> u64 {
        self.chunks
            .keys()
            .map(|&k| {
                let start = k * CHUNK64;
                (start + CHUNK64).min(size).saturating_sub(start)
            })
            .sum()
    }

    /// The extents covering `0..size`, in order, alternating between data and zeros.
    pub(crate) fn extents(&self, size: u64) -> Vec<Extent> {
        let mut out: Vec<Extent> = Vec::new();
        let mut push = |start: u64, end: u64, zero: bool| {
            if end <= start {
                return;
            }
            match out.last_mut() {
                Some(last) if last.zero == zero && last.start + last.length == start => {
                    last.length += end - start;
                }
                _ => out.push(Extent {
                    start,
                    length: end - start,
                    zero,
                }),
            }
        };
        let mut pos = 0u64;
        for &k in self.chunks.keys() {
            let start = k * CHUNK64;
            if start >= size {
                break;
            }
            let end = (start + CHUNK64).min(size);
            push(pos, start, true);
            push(start, end, false);
            pos = end;
        }
        push(pos, size, true);
        out
    }

    /// Drops everything stored.
    pub(crate) fn clear(&mut self) {
        self.chunks.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_back_what_was_written_across_chunks() {
        let mut img = SparseImage::default();
        let data: Vec<u8> = (0..3 * CHUNK + 17).map(|i| (i % 251) as u8 + 1).collect();
        img.write(CHUNK64 - 5, &data);
        let mut out = vec![0xaa; data.len() + 10];
        img.read(CHUNK64 - 10, &mut out);
        assert_eq!(&out[..5], &[0; 5]);
        assert_eq!(&out[5..5 + data.len()], &data[..]);
        assert_eq!(&out[5 + data.len()..], &[0; 5]);
        assert_eq!(img.chunks.len(), 5);
    }

    #[test]
    fn zeros_allocate_nothing_and_zeroing_drops_chunks() {
        let mut img = SparseImage::default();
        img.write(0, &vec![0; 4 * CHUNK]);
        assert_eq!(img.allocated(u64::MAX), 0);
        img.write(10, b"abc");
        img.write(3 * CHUNK64, &vec![7; CHUNK]);
        assert_eq!(img.allocated(u64::MAX), 2 * CHUNK64);
        img.zero(0, 4 * CHUNK64);
        assert_eq!(img.allocated(u64::MAX), 0);
        img.write(CHUNK64, &vec![9; 2 * CHUNK]);
        img.zero(CHUNK64 + 1, 10);
        let mut out = vec![1; 12];
        img.read(CHUNK64, &mut out);
        assert_eq!(out, [9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9]);
        assert!(img.has_data(CHUNK64, 1) && !img.has_data(0, CHUNK64));
    }

    #[test]
    fn extents_cover_the_size_and_merge_neighbours() {
        let mut img = SparseImage::default();
        let size = 10 * CHUNK64 + 100;
        assert_eq!(
            img.extents(size),
            [Extent {
                start: 0,
                length: size,
                zero: true
            }]
        );
        img.write(2 * CHUNK64, &vec![1; 2 * CHUNK]);
        img.write(10 * CHUNK64, &[5; 3]);
        let e = img.extents(size);
        assert_eq!(
            e.iter()
                .map(|x| (x.start, x.length, x.zero))
                .collect::<Vec<_>>(),
            [
                (0, 2 * CHUNK64, true),
                (2 * CHUNK64, 2 * CHUNK64, false),
                (4 * CHUNK64, 6 * CHUNK64, true),
                (10 * CHUNK64, 100, false),
            ]
        );
        assert_eq!(img.allocated(size), 2 * CHUNK64 + 100);
    }
}
