//! Turning a push request body into a validated package on disk.
//!
//! The body is streamed to a temporary file first (never held in memory). A multipart body is then cut
//! with a lenient parser: NuGet 2.8.7 sends an unquoted boundary, reordered part headers and a bare LF before
//! the closing delimiter, which strict parsers reject and NuGet.org accepts.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
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

/// Finds the byte range of the first part that carries a file (or the first part if none says so).
fn locate_first_file_part(raw: &mut File, boundary: &str) -> Result<(u64, u64), ApiError> {
    let io = |e: std::io::Error| ApiError::from_io("upload file error", e);
    let bad = |why: &str| {
        ApiError::BadRequest(format!(
            "The multipart request body is malformed: {why}. Send the .nupkg as the first file part."
        ))
    };
    let delimiter = format!("--{boundary}");
    let total = raw.metadata().map_err(io)?.len();
    let mut pos = find(raw, 0, delimiter.as_bytes())
        .map_err(io)?
        .ok_or_else(|| bad("the boundary does not occur in the body"))?;
    let mut first_part: Option<(u64, u64)> = None;
    loop {
        let after_delim = pos + delimiter.len() as u64;
        let mut peek = [0u8; 2];
        raw.seek(SeekFrom::Start(after_delim)).map_err(io)?;
        let n = read_up_to(raw, &mut peek).map_err(io)?;
        if n == 2 && &peek == b"--" {
            break;
        }
        let header_start = after_delim;
        let headers_end_crlf = find(raw, header_start, b"\r\n\r\n").map_err(io)?;
        let headers_end_lf = find(raw, header_start, b"\n\n").map_err(io)?;
        let (headers_end, body_start) = match (headers_end_crlf, headers_end_lf) {
            (Some(a), Some(b)) if b < a => (b, b + 2),
            (Some(a), _) => (a, a + 4),
            (None, Some(b)) => (b, b + 2),
            (None, None) => return Err(bad("a part has no header terminator")),
        };
        if headers_end - header_start > 16 * 1024 {
            return Err(bad("part headers are too long"));
        }
        let mut headers = vec![0u8; (headers_end - header_start) as usize];
        raw.seek(SeekFrom::Start(header_start)).map_err(io)?;
        raw.read_exact(&mut headers).map_err(io)?;
        let headers = String::from_utf8_lossy(&headers).to_ascii_lowercase();
        let next = find(raw, body_start, format!("\n{delimiter}").as_bytes())
            .map_err(io)?
            .ok_or_else(|| bad("the closing boundary is missing"))?;
        let mut body_end = next;
        if body_end > body_start {
            raw.seek(SeekFrom::Start(body_end - 1)).map_err(io)?;
            let mut cr = [0u8; 1];
            raw.read_exact(&mut cr).map_err(io)?;
            if cr[0] == b'\r' {
                body_end -= 1;
            }
        }
        let range = (body_start, body_end.max(body_start));
        if headers.contains("filename") {
            return Ok(range);
        }
        first_part.get_or_insert(range);
        pos = next + 1;
        if pos >= total {
            break;
        }
    }
    first_part.ok_or_else(|| bad("it contains no parts"))
}

fn read_up_to(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = file.read(&mut buf[filled..])?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}

/// Offset of the first `needle` at or after `from`, scanning in 64 KiB windows that overlap by the needle.
fn find(file: &mut File, from: u64, needle: &[u8]) -> std::io::Result<Option<u64>> {
    let finder = memmem::Finder::new(needle);
    file.seek(SeekFrom::Start(from))?;
    let mut reader = BufReader::with_capacity(64 * 1024, &mut *file);
    let mut window: Vec<u8> = Vec::with_capacity(128 * 1024);
    let mut window_start = from;
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = reader.read(&mut chunk)?;
        if n == 0 {
            return Ok(None);
        }
        window.extend_from_slice(&chunk[..n]);
        if let Some(i) = finder.find(&window) {
            return Ok(Some(window_start + i as u64));
        }
        let keep = needle.len().saturating_sub(1).min(window.len());
        let drop = window.len() - keep;
        window.drain(..drop);
        window_start += drop as u64;
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
    fn find_crosses_window_boundaries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut data = vec![b'a'; 64 * 1024 - 3];
        data.extend_from_slice(b"NEEDLE");
        data.extend_from_slice(&vec![b'b'; 1000]);
        std::fs::write(&path, &data).unwrap();
        let mut f = File::open(&path).unwrap();
        assert_eq!(find(&mut f, 0, b"NEEDLE").unwrap(), Some(64 * 1024 - 3));
        assert_eq!(find(&mut f, 64 * 1024, b"NEEDLE").unwrap(), None);
    }
}
