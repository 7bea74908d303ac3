//! Reading an object out: its parts (one file, or a manifest's segments)
//! sent in fixed-size chunks over a bounded channel, so a download holds at
//! most `CHANNEL_CHUNKS + 1` chunks in memory whatever the object's size.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};

use hyper::body::Bytes;
use tokio::sync::mpsc;

/// The size of the chunks a download is sent in.
pub(crate) const CHUNK: usize = 64 * 1024;
/// How many chunks may wait between the reading thread and the socket.
pub(crate) const CHANNEL_CHUNKS: usize = 4;

/// A piece of an object's content: `len` bytes of `file` from `offset`. The
/// file is opened when the content is resolved, so a segment deleted or
/// replaced meanwhile still reads as it was.
#[derive(Debug)]
pub(crate) struct Part {
    pub(crate) file: File,
    pub(crate) offset: u64,
    pub(crate) len: u64,
}

/// Keeps the bytes `start..start + len` of the concatenation of `parts`.
pub(crate) fn slice(parts: Vec<Part>, start: u64, len: u64) -> Vec<Part> {
    let mut out = Vec::new();
    let mut skip = start;
    let mut want = len;
    for mut part in parts {
        if want == 0 {
            break;
        }
        if skip >= part.len {
            skip -= part.len;
            continue;
        }
        part.offset += skip;
        part.len -= skip;
        skip = 0;
        part.len = part.len.min(want);
        want -= part.len;
        out.push(part);
    }
    out
}

/// Reads `parts` in order and sends them in [`CHUNK`]-sized pieces until done,
/// an error (sent on as the last item), or the receiver is gone (the client
/// went away). Blocking: run it on a blocking thread.
pub(crate) fn pump(parts: Vec<Part>, tx: &mpsc::Sender<io::Result<Bytes>>) {
    for part in parts {
        if let Err(e) = pump_part(part, tx) {
            let _ = tx.blocking_send(Err(e));
            return;
        }
        if tx.is_closed() {
            return;
        }
    }
}

fn pump_part(mut part: Part, tx: &mpsc::Sender<io::Result<Bytes>>) -> io::Result<()> {
    part.file.seek(SeekFrom::Start(part.offset))?;
    let mut left = part.len;
    while left > 0 {
        let n = usize::try_from(left).map_or(CHUNK, |l| l.min(CHUNK));
        let mut buf = vec![0u8; n];
        part.file.read_exact(&mut buf)?;
        left -= n as u64;
        if tx.blocking_send(Ok(Bytes::from(buf))).is_err() {
            return Ok(());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn part(dir: &std::path::Path, name: &str, bytes: &[u8]) -> Part {
        let path = dir.join(name);
        File::create(&path).unwrap().write_all(bytes).unwrap();
        Part {
            file: File::open(&path).unwrap(),
            offset: 0,
            len: bytes.len() as u64,
        }
    }

    fn read_all(parts: Vec<Part>) -> Vec<u8> {
        let (tx, mut rx) = mpsc::channel(CHANNEL_CHUNKS);
        let reader = std::thread::spawn(move || pump(parts, &tx));
        let mut out = Vec::new();
        while let Some(chunk) = rx.blocking_recv() {
            out.extend_from_slice(&chunk.unwrap());
        }
        reader.join().unwrap();
        out
    }

    #[test]
    fn parts_are_concatenated_and_sliced() {
        let dir = tempfile::TempDir::with_prefix("download").unwrap();
        let big: Vec<u8> = (0..CHUNK * 2 + 7).map(|i| (i % 251) as u8).collect();
        let parts = || {
            vec![
                part(dir.path(), "a", b"hello "),
                part(dir.path(), "b", &big),
                part(dir.path(), "c", b"!"),
            ]
        };
        let mut all = b"hello ".to_vec();
        all.extend_from_slice(&big);
        all.push(b'!');
        assert_eq!(read_all(parts()), all);
        let total = all.len() as u64;
        for (start, len) in [(0, 3), (4, 10), (6, total - 7), (total - 1, 1), (0, total)] {
            let got = read_all(slice(parts(), start, len));
            assert_eq!(got, &all[start as usize..(start + len) as usize]);
        }
    }
}
