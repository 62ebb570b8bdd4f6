//! Turning a push request body into a validated package on disk.
//!
//! The body is streamed to a temporary file first (never held in memory). A multipart body is then cut
//! with a lenient parser: NuGet 2.8.7 sends an unquoted boundary, reordered part headers and a bare LF before
//! the closing delimiter, which strict parsers reject and NuGet.org accepts.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use axum::body::Body;
use futures_util::StreamExt;
use memchr::memmem;
use sha2::{Digest, Sha512};
use tempfile::NamedTempFile;
use tokio::io::AsyncWriteExt;

use crate::error::ApiError;

/// How much multipart framing may add on top of the package limit.
const MULTIPART_SLACK: u64 = 64 * 1024;

/// Streams a request body into a temporary file in `tmp_dir`, refusing it once it passes the limit.
pub async fn spool_body(
    body: Body,
    tmp_dir: &Path,
    max_package_size: u64,
) -> Result<NamedTempFile, ApiError> {
    let limit = max_package_size.saturating_add(MULTIPART_SLACK);
    let spool = NamedTempFile::new_in(tmp_dir)
        .map_err(|e| ApiError::from_io("cannot create upload file", e))?;
    let std_file = spool
        .reopen()
        .map_err(|e| ApiError::from_io("cannot open upload file", e))?;
    let mut file = tokio::io::BufWriter::new(tokio::fs::File::from_std(std_file));
    let mut stream = body.into_data_stream();
    let mut written: u64 = 0;
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::BadRequest(format!("The upload was interrupted: {e}")))?;
        written += chunk.len() as u64;
        if written > limit {
            return Err(ApiError::PayloadTooLarge {
                limit: max_package_size,
            });
        }
        // A full disk (ENOSPC) becomes a 507; the temporary file goes away with `spool`.
        file.write_all(&chunk)
            .await
            .map_err(|e| ApiError::from_io("cannot write upload file", e))?;
    }
    file.flush()
        .await
        .map_err(|e| ApiError::from_io("cannot write upload file", e))?;
    if written == 0 {
        return Err(ApiError::BadRequest(
            "The request body is empty; send the .nupkg file.".into(),
        ));
    }
    Ok(spool)
}

/// A package file extracted from the body, with its digest.
pub struct ExtractedPackage {
    pub file: NamedTempFile,
    pub size: u64,
    /// Base64 SHA-512, NuGet's `packageHash`.
    pub sha512_base64: String,
}

/// Extracts the package (the first file part of a multipart body, or the whole body) into its own file
/// and hashes it. Blocking: run it on the blocking pool.
pub fn extract_package(
    spool: NamedTempFile,
    content_type: Option<&str>,
    tmp_dir: &Path,
    max_package_size: u64,
) -> Result<ExtractedPackage, ApiError> {
    let io = |e: std::io::Error| ApiError::from_io("upload file error", e);
    let boundary = content_type.and_then(multipart_boundary);
    let (file, size, hash) = match boundary {
        None => {
            let size = spool.as_file().metadata().map_err(io)?.len();
            if size > max_package_size {
                return Err(ApiError::PayloadTooLarge {
                    limit: max_package_size,
                });
            }
            let mut reader = spool.reopen().map_err(io)?;
            let hash = hash_reader(&mut reader, &mut std::io::sink()).map_err(io)?;
            (spool, size, hash)
        }
        Some(boundary) => {
            let mut raw = spool.reopen().map_err(io)?;
            let (start, end) = locate_first_file_part(&mut raw, &boundary)?;
            let size = end - start;
            if size > max_package_size {
                return Err(ApiError::PayloadTooLarge {
                    limit: max_package_size,
                });
            }
            if size == 0 {
                return Err(ApiError::BadRequest(
                    "The multipart body's package part is empty.".into(),
                ));
            }
            let mut out = NamedTempFile::new_in(tmp_dir).map_err(io)?;
            raw.seek(SeekFrom::Start(start)).map_err(io)?;
            let hash = hash_reader(&mut raw.take(size), out.as_file_mut()).map_err(io)?;
            out.as_file_mut().flush().map_err(io)?;
            drop(spool);
            (out, size, hash)
        }
    };
    Ok(ExtractedPackage {
        file,
        size,
        sha512_base64: hash,
    })
}

fn hash_reader(reader: &mut impl Read, out: &mut impl Write) -> std::io::Result<String> {
    let mut hasher = Sha512::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])?;
    }
    Ok(data_encoding::BASE64.encode(&hasher.finalize()))
}

/// The boundary of a `multipart/*` content type, quoted or not.
pub fn multipart_boundary(content_type: &str) -> Option<String> {
    let (mime, params) = content_type.split_once(';')?;
    if !mime.trim().to_ascii_lowercase().starts_with("multipart/") {
        return None;
    }
    params.split(';').find_map(|param| {
        let (name, value) = param.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("boundary") {
            return None;
        }
        let value = value.trim().trim_matches('"');
        (!value.is_empty()).then(|| value.to_string())
    })
}

/// The most parts of a multipart body examined for the package: NuGet clients send one.
const MAX_PARTS: usize = 100;
/// The longest header block a part may have.
const MAX_PART_HEADERS: u64 = 16 * 1024;

/// Finds the byte range of the first part that carries a file (or the first part if none says so).
///
/// One forward pass over the body: each byte is read from the file once and searched a bounded number of
/// times (the 16 KiB after a delimiter up to three times, for the header terminators and then the next
/// delimiter; the overlap at chunk edges twice), and at most [`MAX_PARTS`] parts are looked at, so the
/// cost is linear in the body's size whatever its shape. The old parser searched the rest of the body
/// for a blank line once per part: 5 000 tiny parts before a 5 MB one cost seconds of CPU.
fn locate_first_file_part(raw: &mut File, boundary: &str) -> Result<(u64, u64), ApiError> {
    let io = |e: std::io::Error| ApiError::from_io("upload file error", e);
    let bad = |why: &str| {
        ApiError::BadRequest(format!(
            "The multipart request body is malformed: {why}. Send the .nupkg as the first file part."
        ))
    };
    raw.seek(SeekFrom::Start(0)).map_err(io)?;
    let mut scan = Scanner::new(&mut *raw);
    let delimiter = format!("--{boundary}");
    let next_delimiter = format!("\n{delimiter}");
    let mut pos = scan
        .find(0, delimiter.as_bytes())
        .map_err(io)?
        .ok_or_else(|| bad("the boundary does not occur in the body"))?;
    let mut first_part: Option<(u64, u64)> = None;
    let mut parts = 0usize;
    loop {
        let after_delim = pos + delimiter.len() as u64;
        if scan.bytes(after_delim, 2).map_err(io)? == b"--" {
            break;
        }
        parts += 1;
        if parts > MAX_PARTS {
            return Err(ApiError::BadRequest(format!(
                "The multipart request body has more than {MAX_PARTS} parts."
            )));
        }
        let header_start = after_delim;
        // The headers end at the first blank line, CRLF or bare LF, whichever comes first; it must lie
        // within the header limit (plus its own four bytes).
        let window = scan.bytes(header_start, MAX_PART_HEADERS + 4).map_err(io)?;
        let crlf = memmem::find(window, b"\r\n\r\n");
        let lf = memmem::find(window, b"\n\n");
        let complete = (window.len() as u64) < MAX_PART_HEADERS + 4;
        let (headers_len, terminator_len) = match (crlf, lf) {
            (Some(a), Some(b)) if b < a => (b, 2),
            (Some(a), _) => (a, 4),
            (None, Some(b)) => (b, 2),
            (None, None) if complete => return Err(bad("a part has no header terminator")),
            (None, None) => return Err(bad("part headers are too long")),
        };
        if headers_len as u64 > MAX_PART_HEADERS {
            return Err(bad("part headers are too long"));
        }
        let headers = String::from_utf8_lossy(&window[..headers_len]).to_ascii_lowercase();
        let body_start = header_start + (headers_len + terminator_len) as u64;
        let next = scan
            .find(body_start, next_delimiter.as_bytes())
            .map_err(io)?
            .ok_or_else(|| bad("the closing boundary is missing"))?;
        let mut body_end = next;
        if body_end > body_start && scan.bytes(body_end - 1, 1).map_err(io)? == b"\r" {
            body_end -= 1;
        }
        let range = (body_start, body_end.max(body_start));
        if headers.contains("filename") {
            return Ok(range);
        }
        first_part.get_or_insert(range);
        pos = next + 1;
    }
    first_part.ok_or_else(|| bad("it contains no parts"))
}

/// A forward-only view of a file for [`locate_first_file_part`]: it reads each byte once, keeps only the
/// bytes from the last position asked about onwards, and never goes back before it.
struct Scanner<R> {
    reader: R,
    /// The bytes read and kept, starting at file offset `start`.
    buf: Vec<u8>,
    start: u64,
    eof: bool,
}

impl<R: Read> Scanner<R> {
    const CHUNK: usize = 64 * 1024;

    /// `reader` must be positioned at offset 0.
    fn new(reader: R) -> Scanner<R> {
        Scanner {
            reader,
            buf: Vec::with_capacity(2 * Self::CHUNK),
            start: 0,
            eof: false,
        }
    }

    fn end(&self) -> u64 {
        self.start + self.buf.len() as u64
    }

    /// Forgets the bytes before `offset`, which must not lie before what is kept.
    fn forget_before(&mut self, offset: u64) {
        debug_assert!(offset >= self.start, "the scanner never goes back");
        let drop = usize::try_from(offset.saturating_sub(self.start))
            .unwrap_or(usize::MAX)
            .min(self.buf.len());
        self.buf.drain(..drop);
        self.start += drop as u64;
    }

    /// Reads the next chunk, at least as long as what is kept (so a long needle's overlap is searched
    /// again only a bounded number of times); false at the end of the file.
    fn fill(&mut self) -> std::io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        let old = self.buf.len();
        self.buf.resize(old + Self::CHUNK.max(old), 0);
        let n = loop {
            match self.reader.read(&mut self.buf[old..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.buf.truncate(old);
                    return Err(e);
                }
            }
        };
        self.buf.truncate(old + n);
        self.eof = n == 0;
        Ok(n > 0)
    }

    /// Up to `len` bytes at `offset` (fewer at the end of the file); bytes before `offset` are forgotten.
    fn bytes(&mut self, offset: u64, len: u64) -> std::io::Result<&[u8]> {
        self.forget_before(offset);
        while self.end() < offset.saturating_add(len) && self.fill()? {}
        let from = usize::try_from(offset.saturating_sub(self.start)).unwrap_or(usize::MAX);
        let from = from.min(self.buf.len());
        let to = usize::try_from(len)
            .unwrap_or(usize::MAX)
            .saturating_add(from)
            .min(self.buf.len());
        Ok(&self.buf[from..to])
    }

    /// Offset of the first `needle` at or after `from`. Bytes are searched once, except the last
    /// `needle.len()` of each chunk; the byte just before a match is still kept afterwards.
    fn find(&mut self, from: u64, needle: &[u8]) -> std::io::Result<Option<u64>> {
        let finder = memmem::Finder::new(needle);
        self.forget_before(from);
        let mut searched_from = from;
        loop {
            let at =
                usize::try_from(searched_from.saturating_sub(self.start)).unwrap_or(usize::MAX);
            if let Some(i) = self.buf.get(at..).and_then(|rest| finder.find(rest)) {
                return Ok(Some(searched_from + i as u64));
            }
            // A match may still start in the last `needle.len() - 1` bytes; keep one byte more, so the
            // byte before a match is at hand.
            searched_from = self
                .end()
                .saturating_sub(needle.len().saturating_sub(1) as u64)
                .max(from);
            self.forget_before(searched_from.saturating_sub(1).max(from));
            if !self.fill()? {
                return Ok(None);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_quoted_and_unquoted() {
        assert_eq!(
            multipart_boundary("multipart/form-data; boundary=\"abc-123\""),
            Some("abc-123".into())
        );
        assert_eq!(
            multipart_boundary("multipart/form-data; boundary=-----------------------------8df4"),
            Some("-----------------------------8df4".into())
        );
        assert_eq!(multipart_boundary("application/octet-stream"), None);
    }

    fn extract(body: &[u8], content_type: &str) -> Result<Vec<u8>, ApiError> {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = NamedTempFile::new_in(dir.path()).unwrap();
        spool.write_all(body).unwrap();
        let pkg = extract_package(spool, Some(content_type), dir.path(), 1 << 20)?;
        Ok(std::fs::read(pkg.file.path()).unwrap())
    }

    #[test]
    fn strict_and_lenient_multipart_bodies() {
        let strict = b"--XyZ\r\nContent-Type: application/octet-stream\r\nContent-Disposition: form-data; name=package; filename=package.nupkg\r\n\r\nPK\x03\x04data\r\n--XyZ--\r\n";
        assert_eq!(
            extract(strict, "multipart/form-data; boundary=\"XyZ\"").unwrap(),
            b"PK\x03\x04data"
        );
        // NuGet 2.8.7: bare LF before the closing delimiter, no trailing CRLF.
        let lenient = b"--XyZ\r\nContent-Disposition: form-data; name=\"package\"; filename=\"package\"\r\nContent-Type: application/octet-stream\r\n\r\nPK\x03\x04data\n--XyZ--";
        assert_eq!(
            extract(lenient, "multipart/form-data; boundary=XyZ").unwrap(),
            b"PK\x03\x04data"
        );
        // A non-file part first: the file part wins.
        let two = b"--b\r\nContent-Disposition: form-data; name=x\r\n\r\nhello\r\n--b\r\nContent-Disposition: form-data; name=p; filename=p.nupkg\r\n\r\nZIP\r\n--b--\r\n";
        assert_eq!(
            extract(two, "multipart/form-data; boundary=b").unwrap(),
            b"ZIP"
        );
        assert!(matches!(
            extract(b"garbage", "multipart/form-data; boundary=b"),
            Err(ApiError::BadRequest(_))
        ));
        assert!(matches!(
            extract(
                b"--b\r\nContent-Disposition: x\r\n\r\nunterminated",
                "multipart/form-data; boundary=b"
            ),
            Err(ApiError::BadRequest(_))
        ));
    }

    #[test]
    fn scanner_finds_across_chunks_and_keeps_the_byte_before() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let chunk = Scanner::<File>::CHUNK;
        let mut data = vec![b'a'; chunk - 3];
        data.extend_from_slice(b"\rNEEDLE");
        data.extend_from_slice(&vec![b'b'; 3 * chunk]);
        data.extend_from_slice(b"NEEDLE");
        std::fs::write(&path, &data).unwrap();
        let mut f = File::open(&path).unwrap();
        let mut scan = Scanner::new(&mut f);
        let first = (chunk - 2) as u64;
        assert_eq!(scan.find(0, b"NEEDLE").unwrap(), Some(first));
        assert_eq!(scan.bytes(first - 1, 1).unwrap(), b"\r");
        let second = (data.len() - 6) as u64;
        assert_eq!(scan.find(first + 1, b"NEEDLE").unwrap(), Some(second));
        assert_eq!(scan.bytes(second - 1, 1).unwrap(), b"b");
        assert_eq!(scan.find(second + 1, b"NEEDLE").unwrap(), None);
        assert_eq!(scan.bytes(data.len() as u64, 100).unwrap(), b"");
        // A needle longer than a chunk.
        let long = vec![b'x'; 3 * chunk];
        let mut data = vec![b'x'; 3 * chunk - 1];
        data.push(b'y');
        data.extend_from_slice(&long);
        std::fs::write(&path, &data).unwrap();
        let mut f = File::open(&path).unwrap();
        assert_eq!(
            Scanner::new(&mut f).find(0, &long).unwrap(),
            Some(3 * chunk as u64)
        );
    }

    fn parts(count: usize) -> Vec<u8> {
        let mut body = Vec::new();
        for i in 0..count {
            write!(
                body,
                "--b\r\nContent-Disposition: form-data; name=field{i}\r\n\r\nvalue {i}\r\n"
            )
            .unwrap();
        }
        body
    }

    #[test]
    fn a_file_part_after_many_small_parts_is_found() {
        let mut body = parts(50);
        body.extend_from_slice(
            b"--b\nContent-Disposition: form-data; name=package; filename=p.nupkg\n\nPK\x03\x04zip\n--b--",
        );
        assert_eq!(
            extract(&body, "multipart/form-data; boundary=b").unwrap(),
            b"PK\x03\x04zip"
        );
        // The limit counts the file part too: 99 parts before it still work, 100 do not.
        let file_part = b"--b\r\nContent-Disposition: form-data; name=p; filename=p.nupkg\r\n\r\nZIP\r\n--b--\r\n";
        let body = [parts(99), file_part.to_vec()].concat();
        assert_eq!(
            extract(&body, "multipart/form-data; boundary=b").unwrap(),
            b"ZIP"
        );
        let body = [parts(100), file_part.to_vec()].concat();
        assert!(extract(&body, "multipart/form-data; boundary=b").is_err());
        // Without a file part, the first part is the package.
        let body = [parts(100), b"--b--\r\n".to_vec()].concat();
        assert_eq!(
            extract(&body, "multipart/form-data; boundary=b").unwrap(),
            b"value 0"
        );
    }

    #[test]
    fn thousands_of_parts_are_refused_fast() {
        // 5 000 tiny parts and one large file part: the old parser searched the rest of the body once per
        // part (seconds of CPU); this one stops at the part limit.
        let mut body = parts(5000);
        body.extend_from_slice(
            b"--b\r\nContent-Disposition: form-data; name=p; filename=p.nupkg\r\n\r\n",
        );
        body.extend_from_slice(&vec![b'z'; 5 * 1024 * 1024]);
        body.extend_from_slice(b"\r\n--b--\r\n");
        let started = std::time::Instant::now();
        let err = extract(&body, "multipart/form-data; boundary=b").unwrap_err();
        let elapsed = started.elapsed();
        assert_eq!(
            err.to_string(),
            "The multipart request body has more than 100 parts."
        );
        assert!(matches!(err, ApiError::BadRequest(_)));
        assert!(
            elapsed < std::time::Duration::from_millis(500),
            "took {elapsed:?}"
        );
    }

    #[test]
    fn a_large_part_without_line_breaks_is_scanned_once() {
        // One 8 MiB file part holding no blank line after many small parts: linear time (the old parser
        // searched the rest of the body for a blank line once per part).
        let mut body = parts(90);
        body.extend_from_slice(
            b"--b\r\nContent-Disposition: form-data; name=p; filename=p.nupkg\r\n\r\n",
        );
        body.extend_from_slice(&vec![b'z'; 8 * 1024 * 1024]);
        body.extend_from_slice(b"\r\n--b--\r\n");
        let started = std::time::Instant::now();
        let dir = tempfile::tempdir().unwrap();
        let mut spool = NamedTempFile::new_in(dir.path()).unwrap();
        spool.write_all(&body).unwrap();
        let pkg = extract_package(
            spool,
            Some("multipart/form-data; boundary=b"),
            dir.path(),
            16 << 20,
        )
        .unwrap();
        assert_eq!(pkg.size, 8 * 1024 * 1024);
        assert!(
            started.elapsed() < std::time::Duration::from_secs(2),
            "took {:?}",
            started.elapsed()
        );
    }

    #[test]
    fn part_header_limits() {
        let long = format!(
            "--b\r\nX-Long: {}\r\n\r\nPK\r\n--b--\r\n",
            "x".repeat(20 * 1024)
        );
        let err = extract(long.as_bytes(), "multipart/form-data; boundary=b").unwrap_err();
        assert!(
            err.to_string().contains("part headers are too long"),
            "{err}"
        );
        let unterminated = b"--b\r\nContent-Disposition: form-data; filename=x";
        let err = extract(unterminated, "multipart/form-data; boundary=b").unwrap_err();
        assert!(err.to_string().contains("no header terminator"), "{err}");
        // Exactly at the limit is fine.
        let at_limit = format!("--b{}\r\n\r\nPK\r\n--b--\r\n", "x".repeat(16 * 1024));
        assert_eq!(
            extract(at_limit.as_bytes(), "multipart/form-data; boundary=b").unwrap(),
            b"PK"
        );
        let over = format!("--b{}\r\n\r\nPK\r\n--b--\r\n", "x".repeat(16 * 1024 + 1));
        assert!(extract(over.as_bytes(), "multipart/form-data; boundary=b").is_err());
    }
}
