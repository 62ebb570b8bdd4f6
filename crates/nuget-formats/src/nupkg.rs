//! Reading a pushed `.nupkg` (a zip archive) just far enough to validate it:
//! safe and distinct entry names, exactly one root `.nuspec`, and the optional
//! readme.
//!
//! Sizes declared inside the zip are never trusted: every read goes through
//! a hard byte cap, so a zip bomb costs at most the cap in memory.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Seek, SeekFrom};

use crate::nuspec::{Nuspec, NuspecError};
use crate::version::shorten;

const MIB: u64 = 1024 * 1024;
/// How many root `.nuspec` names the "more than one" message lists.
const MAX_LISTED_NUSPECS: usize = 5;

/// Resource limits for [`read_nupkg`], so the server can bound the work a
/// single push may cause.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NupkgLimits {
    /// Largest decompressed `.nuspec` accepted (default 1 MiB).
    pub max_nuspec_bytes: u64,
    /// Most zip entries accepted (default 20 000).
    pub max_entries: usize,
    /// Largest decompressed readme accepted (default 1 MiB).
    pub max_readme_bytes: u64,
}

impl Default for NupkgLimits {
    fn default() -> Self {
        NupkgLimits {
            max_nuspec_bytes: MIB,
            max_entries: 20_000,
            max_readme_bytes: MIB,
        }
    }
}

/// What the server needs from a valid package.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nupkg {
    /// The parsed manifest.
    pub nuspec: Nuspec,
    /// The manifest's raw bytes, served as-is by the `.nuspec` endpoint.
    pub nuspec_bytes: Vec<u8>,
    /// The readme's text when `nuspec.readme` names a file present in the
    /// package; `None` when none is declared or the file is missing (the
    /// caller decides whether a missing readme is an error).
    pub readme: Option<String>,
    /// The license file's text when the manifest's `<license type="file">` names one present in the
    /// package (not valid UTF-8 is read lossily: it is shown, never parsed).
    pub license_text: Option<String>,
    /// Every entry name in the archive, in archive order.
    pub entries: Vec<String>,
}

impl Nupkg {
    /// The target frameworks the package supports: its `lib/` and `ref/` folders and its dependency
    /// groups, each once (ignoring case), sorted.
    pub fn target_frameworks(&self) -> Vec<String> {
        let folders = self.entries.iter().filter_map(|entry| {
            let entry = entry.replace('\\', "/");
            let mut parts = entry.split('/');
            let top = parts.next()?;
            let framework = parts.next()?;
            // A file directly in lib/ (no framework folder) has nothing after its name.
            parts.next()?;
            (top.eq_ignore_ascii_case("lib") || top.eq_ignore_ascii_case("ref"))
                .then(|| framework.to_string())
                .filter(|f| !f.is_empty())
        });
        let groups = self
            .nuspec
            .dependency_groups
            .iter()
            .filter_map(|g| g.target_framework.clone());
        let mut frameworks: Vec<String> = Vec::new();
        for framework in folders.chain(groups) {
            if !frameworks
                .iter()
                .any(|f| f.eq_ignore_ascii_case(&framework))
            {
                frameworks.push(framework);
            }
        }
        frameworks.sort_by_key(|f| f.to_ascii_lowercase());
        frameworks
    }
}

/// Why a package was refused; every message is meant for the person pushing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NupkgError {
    /// The bytes are not a readable zip archive.
    #[error("The package is not a valid zip archive ({0}).")]
    InvalidZip(String),
    /// More entries than [`NupkgLimits::max_entries`].
    #[error("The package contains {count} files, more than the limit of {limit}.")]
    TooManyEntries {
        /// Entries found.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// An entry name that could escape the extraction folder or is malformed.
    #[error("The package contains an entry with an unsafe name '{name}': {reason}.")]
    UnsafeEntry {
        /// The entry name (control characters escaped).
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Two entries whose names NuGet sees as the same: clients refuse such a package, and which of the
    /// two a reader takes is up to the reader.
    #[error("{}", duplicate_message(.first, .second))]
    DuplicateEntry {
        /// The first entry's name (control characters escaped).
        first: String,
        /// The second entry's name, the same as `first` when they are spelled alike.
        second: String,
    },
    /// No `.nuspec` at the archive root.
    #[error("The package does not contain a .nuspec file at its root.")]
    NoNuspec,
    /// Several `.nuspec` files at the archive root.
    #[error("The package contains more than one .nuspec file at its root: {}.", .0.join(", "))]
    MultipleNuspecs(Vec<String>),
    /// The `.nuspec` decompresses to more than the limit.
    #[error("The .nuspec file is larger than {} when decompressed.", human_size(*.0))]
    NuspecTooLarge(u64),
    /// The readme decompresses to more than the limit.
    #[error("The readme file '{name}' is larger than {}.", human_size(*.limit))]
    ReadmeTooLarge {
        /// The readme's entry name.
        name: String,
        /// The limit.
        limit: u64,
    },
    /// The readme is not UTF-8 text.
    #[error("The readme file '{0}' is not valid UTF-8 text.")]
    ReadmeNotUtf8(String),
    /// The `.nuspec` itself is invalid; shown with the manifest's own message.
    #[error(transparent)]
    Nuspec(#[from] NuspecError),
}

/// Formats a byte count the way people say it: `1 MiB`, `512 KiB`, `100 bytes`.
fn human_size(bytes: u64) -> String {
    if bytes >= MIB && bytes % MIB == 0 {
        format!("{} MiB", bytes / MIB)
    } else if bytes >= 1024 && bytes % 1024 == 0 {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes} bytes")
    }
}

fn duplicate_message(first: &str, second: &str) -> String {
    if first == second {
        format!("The package contains two entries named '{first}'.")
    } else {
        format!(
            "The package contains two entries with the same name, '{first}' and '{second}' \
             (NuGet ignores case in entry names and treats '\\' as '/')."
        )
    }
}

pub(crate) fn zip_error(e: impl std::fmt::Display) -> NupkgError {
    NupkgError::InvalidZip(e.to_string().trim_end_matches('.').to_string())
}

/// Rejects entry names that are absolute, climb out with `..`, or hide NULs.
pub(crate) fn check_entry_name(name: &str) -> Result<(), NupkgError> {
    let unsafe_entry = |reason| NupkgError::UnsafeEntry {
        name: shorten(&name.escape_debug().to_string()),
        reason,
    };
    if name.contains('\0') {
        return Err(unsafe_entry("it contains a NUL character"));
    }
    if name.starts_with('/') || name.starts_with('\\') {
        return Err(unsafe_entry("it is an absolute path"));
    }
    let bytes = name.as_bytes();
    if bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' {
        return Err(unsafe_entry("it starts with a drive letter"));
    }
    if name.split(['/', '\\']).any(|segment| segment == "..") {
        return Err(unsafe_entry("it contains a '..' path segment"));
    }
    Ok(())
}

/// An entry name for a message: control characters escaped, long names shortened.
fn shown_name(name: &str) -> String {
    let escaped: String = name
        .chars()
        .map(|c| {
            if c.is_control() {
                c.escape_debug().to_string()
            } else {
                c.to_string()
            }
        })
        .collect();
    shorten(&escaped)
}

/// Refuses two entries whose names are equal once case is ignored and `\` is read as `/`, as NuGet
/// (and Windows) read them.
pub(crate) fn check_distinct_names(entries: &[String]) -> Result<(), NupkgError> {
    let mut seen: HashMap<String, usize> = HashMap::with_capacity(entries.len());
    for (index, name) in entries.iter().enumerate() {
        let key = name.replace('\\', "/").to_lowercase();
        if let Some(&first) = seen.get(&key) {
            return Err(NupkgError::DuplicateEntry {
                first: shown_name(&entries[first]),
                second: shown_name(name),
            });
        }
        seen.insert(key, index);
    }
    Ok(())
}

/// Names the entry listed twice, byte for byte, in the central directory of an archive the zip reader
/// reported duplicates in (it keeps only one of them, so its own entry list cannot say which).
pub(crate) fn exact_duplicate<R: Read + Seek>(archive: zip::ZipArchive<R>) -> NupkgError {
    let decoded: HashMap<Vec<u8>, String> = archive
        .file_names_raw()
        .map(<[u8]>::to_vec)
        .zip(archive.file_names())
        .map(|(raw, name)| {
            let name = name.map_or_else(
                |_| String::from_utf8_lossy(&raw).into_owned(),
                |n| n.into_owned(),
            );
            (raw, name)
        })
        .collect();
    // With at most `len` distinct names, a repeat shows among the first `len + 1` records.
    let records = archive.len() + 1;
    let start = archive.central_directory_start();
    let mut reader = archive.into_inner();
    let repeated = (|| -> std::io::Result<Option<Vec<u8>>> {
        const CENTRAL_HEADER: [u8; 4] = [b'P', b'K', 1, 2];
        reader.seek(SeekFrom::Start(start))?;
        let mut seen: HashSet<Vec<u8>> = HashSet::with_capacity(records);
        for _ in 0..records {
            let mut fixed = [0u8; 46];
            reader.read_exact(&mut fixed)?;
            if fixed[..4] != CENTRAL_HEADER {
                return Ok(None);
            }
            let field = |at: usize| u16::from_le_bytes([fixed[at], fixed[at + 1]]);
            let mut name = vec![0u8; usize::from(field(28))];
            reader.read_exact(&mut name)?;
            reader.seek(SeekFrom::Current(
                i64::from(field(30)) + i64::from(field(32)),
            ))?;
            if !seen.insert(name.clone()) {
                return Ok(Some(name));
            }
        }
        Ok(None)
    })();
    match repeated {
        Ok(Some(raw)) => {
            let name = decoded
                .get(&raw)
                .cloned()
                .unwrap_or_else(|| String::from_utf8_lossy(&raw).into_owned());
            let name = shown_name(&name);
            NupkgError::DuplicateEntry {
                first: name.clone(),
                second: name,
            }
        }
        _ => NupkgError::InvalidZip("it lists two entries with the same name".into()),
    }
}

fn is_root_nuspec(name: &str) -> bool {
    !name.contains(['/', '\\']) && name.to_ascii_lowercase().ends_with(".nuspec")
}

/// The index of the one `.nuspec` at the archive root.
pub(crate) fn root_nuspec(entries: &[String]) -> Result<usize, NupkgError> {
    let nuspecs: Vec<usize> = (0..entries.len())
        .filter(|&i| is_root_nuspec(&entries[i]))
        .collect();
    match nuspecs.as_slice() {
        [] => Err(NupkgError::NoNuspec),
        [one] => Ok(*one),
        many => {
            // Name a few: listing thousands would make the message unreadable (and the response huge).
            let mut names: Vec<String> = many
                .iter()
                .take(MAX_LISTED_NUSPECS)
                .map(|&i| shorten(&entries[i]))
                .collect();
            if many.len() > MAX_LISTED_NUSPECS {
                names.push(format!("and {} more", many.len() - MAX_LISTED_NUSPECS));
            }
            Err(NupkgError::MultipleNuspecs(names))
        }
    }
}

/// Reads at most `limit` bytes from `reader`; `Ok(None)` when there are more.
pub(crate) fn read_capped(reader: impl Read, limit: u64) -> Result<Option<Vec<u8>>, NupkgError> {
    let mut bytes = Vec::new();
    reader
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(zip_error)?;
    if bytes.len() as u64 > limit {
        Ok(None)
    } else {
        Ok(Some(bytes))
    }
}

/// Finds the readme entry named by the manifest, tolerating `\` separators,
/// a leading `./` and differences in case.
fn find_readme(entries: &[String], declared: &str) -> Option<usize> {
    let wanted = declared.replace('\\', "/");
    let wanted = wanted.trim_start_matches("./");
    let clean = |e: &str| e.replace('\\', "/");
    entries.iter().position(|e| clean(e) == wanted).or_else(|| {
        entries
            .iter()
            .position(|e| clean(e).eq_ignore_ascii_case(wanted))
    })
}

/// A package archive (a `.nupkg` or `.snupkg`) whose entry names have been checked: safe, and distinct
/// as NuGet compares them. Entries are read through [`PackageArchive::copy_entry`], capped.
pub struct PackageArchive<R> {
    archive: zip::ZipArchive<R>,
    entries: Vec<String>,
}

impl<R: Read + Seek> PackageArchive<R> {
    /// Opens the archive and checks its entry count and every entry name.
    pub fn open(reader: R, max_entries: usize) -> Result<PackageArchive<R>, NupkgError> {
        let archive = zip::ZipArchive::new(reader).map_err(zip_error)?;
        if archive.len() > max_entries {
            return Err(NupkgError::TooManyEntries {
                count: archive.len(),
                limit: max_entries,
            });
        }
        let entries: Vec<String> = archive
            .file_names()
            .map(|name| name.map(|n| n.into_owned()).map_err(zip_error))
            .collect::<Result<_, _>>()?;
        for name in &entries {
            check_entry_name(name)?;
        }
        if archive.has_duplicate_names() {
            return Err(exact_duplicate(archive));
        }
        check_distinct_names(&entries)?;
        Ok(PackageArchive { archive, entries })
    }

    /// Every entry name, in archive order.
    pub fn entries(&self) -> &[String] {
        &self.entries
    }

    /// The index of the entry at `path`, compared as NuGet does: ignoring case, `\` read as `/`.
    pub fn find(&self, path: &str) -> Option<usize> {
        let wanted = path.replace('\\', "/").to_lowercase();
        self.entries
            .iter()
            .position(|e| e.replace('\\', "/").to_lowercase() == wanted)
    }

    /// Writes entry `index`, decompressed, to `out`; `Ok(None)` (with up to `limit` bytes written) when
    /// it is larger than `limit`, whatever size the archive claims.
    pub fn copy_entry(
        &mut self,
        index: usize,
        out: &mut impl std::io::Write,
        limit: u64,
    ) -> Result<Option<u64>, NupkgError> {
        let file = self.archive.by_index(index).map_err(zip_error)?;
        let copied =
            std::io::copy(&mut file.take(limit.saturating_add(1)), out).map_err(zip_error)?;
        Ok((copied <= limit).then_some(copied))
    }

    /// Reads entry `index` into memory; `Ok(None)` when it is larger than `limit`.
    pub fn read_entry(&mut self, index: usize, limit: u64) -> Result<Option<Vec<u8>>, NupkgError> {
        let file = self.archive.by_index(index).map_err(zip_error)?;
        read_capped(file, limit)
    }
}

/// Validates a package and extracts its manifest and readme.
///
/// Checks, in order: the archive opens, the entry count, every entry name,
/// no two entries with the same name (ignoring case, `\` read as `/`),
/// exactly one root `.nuspec`, its decompressed size, the manifest itself,
/// then the readme if one is declared.
pub fn read_nupkg<R: Read + Seek>(reader: R, limits: &NupkgLimits) -> Result<Nupkg, NupkgError> {
    let PackageArchive {
        mut archive,
        entries,
    } = PackageArchive::open(reader, limits.max_entries)?;
    let nuspec_index = root_nuspec(&entries)?;

    let nuspec_bytes = {
        let file = archive.by_index(nuspec_index).map_err(zip_error)?;
        read_capped(file, limits.max_nuspec_bytes)?
            .ok_or(NupkgError::NuspecTooLarge(limits.max_nuspec_bytes))?
    };
    let nuspec = Nuspec::parse(&nuspec_bytes)?;

    let readme = match nuspec
        .readme
        .as_deref()
        .and_then(|r| find_readme(&entries, r))
    {
        Some(index) => {
            let name = entries[index].clone();
            let file = archive.by_index(index).map_err(zip_error)?;
            let bytes = read_capped(file, limits.max_readme_bytes)?.ok_or_else(|| {
                NupkgError::ReadmeTooLarge {
                    name: name.clone(),
                    limit: limits.max_readme_bytes,
                }
            })?;
            let bytes = bytes
                .strip_prefix(&[0xEF, 0xBB, 0xBF])
                .map(<[u8]>::to_vec)
                .unwrap_or(bytes);
            Some(String::from_utf8(bytes).map_err(|_| NupkgError::ReadmeNotUtf8(name))?)
        }
        None => None,
    };
    let license_text = match nuspec
        .license
        .as_ref()
        .filter(|l| l.kind == "file")
        .and_then(|l| find_readme(&entries, &l.value))
    {
        Some(index) => {
            let file = archive.by_index(index).map_err(zip_error)?;
            read_capped(file, limits.max_readme_bytes)?
                .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        }
        None => None,
    };

    Ok(Nupkg {
        nuspec,
        nuspec_bytes,
        readme,
        license_text,
        entries,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::io::{Cursor, Write};
    use zip::write::SimpleFileOptions;

    const NUSPEC: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<package xmlns="http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd">
  <metadata>
    <id>Demo.Package</id>
    <version>1.2.3</version>
    <authors>Someone</authors>
    <description>A demo.</description>
    <readme>docs\README.md</readme>
  </metadata>
</package>"#;

    fn zip_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data) in files {
            writer
                .start_file(*name, SimpleFileOptions::default())
                .unwrap();
            writer.write_all(data).unwrap();
        }
        writer.finish().unwrap().into_inner()
    }

    fn read(bytes: Vec<u8>) -> Result<Nupkg, NupkgError> {
        read_nupkg(Cursor::new(bytes), &NupkgLimits::default())
    }

    #[test]
    fn reads_a_valid_package() {
        let bytes = zip_of(&[
            ("Demo.Package.nuspec", NUSPEC.as_bytes()),
            ("lib/net8.0/Demo.dll", b"MZ"),
            ("docs/README.md", "\u{feff}# Hello\n".as_bytes()),
            ("[Content_Types].xml", b"<Types/>"),
        ]);
        let pkg = read(bytes).unwrap();
        assert_eq!(pkg.nuspec.id, "Demo.Package");
        assert_eq!(pkg.nuspec.version.normalized(), "1.2.3");
        assert_eq!(pkg.nuspec_bytes, NUSPEC.as_bytes());
        assert_eq!(pkg.readme.as_deref(), Some("# Hello\n"));
        assert_eq!(
            pkg.entries,
            [
                "Demo.Package.nuspec",
                "lib/net8.0/Demo.dll",
                "docs/README.md",
                "[Content_Types].xml"
            ]
        );
    }

    #[test]
    fn license_files_and_target_frameworks_are_read() {
        let nuspec = r#"<?xml version="1.0"?><package><metadata><id>A</id><version>1.0.0</version>
            <authors>x</authors><description>d</description><license type="file">LICENSE.txt</license>
            <dependencies><group targetFramework="net8.0"/><group targetFramework="netstandard2.0"/></dependencies>
            </metadata></package>"#;
        let bytes = zip_of(&[
            ("a.nuspec", nuspec.as_bytes()),
            ("LICENSE.txt", b"MIT License\n"),
            ("lib/net8.0/a.dll", b"x"),
            ("lib/NET8.0/b.dll", b"x"),
            ("ref/net6.0/a.dll", b"x"),
            ("lib/loose.dll", b"x"),
        ]);
        let pkg = read_nupkg(Cursor::new(bytes), &NupkgLimits::default()).unwrap();
        assert_eq!(pkg.license_text.as_deref(), Some("MIT License\n"));
        assert_eq!(
            pkg.target_frameworks(),
            ["net6.0", "net8.0", "netstandard2.0"]
        );
    }

    #[test]
    fn missing_readme_file_gives_none() {
        let bytes = zip_of(&[("Demo.Package.NUSPEC", NUSPEC.as_bytes())]);
        let pkg = read(bytes).unwrap();
        assert_eq!(pkg.nuspec.readme.as_deref(), Some("docs\\README.md"));
        assert_eq!(pkg.readme, None);
    }

    #[test]
    fn readme_limits() {
        let big = vec![b'a'; 2048];
        let bytes = zip_of(&[("a.nuspec", NUSPEC.as_bytes()), ("docs/readme.md", &big)]);
        let limits = NupkgLimits {
            max_readme_bytes: 1024,
            ..NupkgLimits::default()
        };
        let err = read_nupkg(Cursor::new(bytes), &limits).unwrap_err();
        assert_eq!(
            err.to_string(),
            "The readme file 'docs/readme.md' is larger than 1 KiB."
        );
        let bytes = zip_of(&[
            ("a.nuspec", NUSPEC.as_bytes()),
            ("docs/README.md", &[0xff, 0xfe, 0x00]),
        ]);
        assert!(matches!(read(bytes), Err(NupkgError::ReadmeNotUtf8(_))));
    }

    #[test]
    fn not_a_zip() {
        let err = read(b"this is not a zip file at all".to_vec()).unwrap_err();
        assert!(matches!(err, NupkgError::InvalidZip(_)));
        let msg = err.to_string();
        assert!(
            msg.starts_with("The package is not a valid zip archive (") && msg.ends_with(")."),
            "{msg}"
        );
        assert!(matches!(read(Vec::new()), Err(NupkgError::InvalidZip(_))));
    }

    #[test]
    fn truncated_zip() {
        let bytes = zip_of(&[("a.nuspec", NUSPEC.as_bytes()), ("lib/x.dll", &[7u8; 5000])]);
        for cut in [bytes.len() / 2, bytes.len() - 10, 30] {
            let err = read(bytes[..cut].to_vec()).unwrap_err();
            assert!(matches!(err, NupkgError::InvalidZip(_)), "cut {cut}: {err}");
        }
    }

    #[test]
    fn corrupt_nuspec_data() {
        let mut bytes = zip_of(&[("a.nuspec", NUSPEC.as_bytes())]);
        // Flip bytes inside the compressed data of the first entry.
        for b in &mut bytes[40..60] {
            *b ^= 0x5a;
        }
        assert!(read(bytes).is_err());
    }

    #[test]
    fn two_nuspecs() {
        let bytes = zip_of(&[
            ("a.nuspec", NUSPEC.as_bytes()),
            ("b.nuspec", NUSPEC.as_bytes()),
        ]);
        assert_eq!(
            read(bytes).unwrap_err().to_string(),
            "The package contains more than one .nuspec file at its root: a.nuspec, b.nuspec."
        );
    }

    /// Replaces every occurrence of `from` (local header and central directory) with `to`, which has
    /// the same length: the zip writer refuses to write two entries with one name, a hostile one need not.
    fn rename_entries(mut bytes: Vec<u8>, from: &str, to: &str, expected: usize) -> Vec<u8> {
        assert_eq!(from.len(), to.len());
        let at: Vec<usize> = (0..=bytes.len() - from.len())
            .filter(|&i| &bytes[i..i + from.len()] == from.as_bytes())
            .collect();
        assert_eq!(at.len(), expected, "occurrences of {from:?}");
        for i in at {
            bytes[i..i + to.len()].copy_from_slice(to.as_bytes());
        }
        bytes
    }

    #[test]
    fn two_entries_with_one_name_are_refused() {
        // The first manifest carries an extra dependency: which one a reader takes must not be a guess.
        let with_dependency = NUSPEC.replace(
            "</metadata>",
            r#"<dependencies><dependency id="Evil" version="1.0.0" /></dependencies></metadata>"#,
        );
        let bytes = zip_of(&[
            ("Demo.Package.nuspec", with_dependency.as_bytes()),
            ("Demo.Package.nusped", NUSPEC.as_bytes()),
            ("lib/net8.0/Demo.dll", b"MZ"),
        ]);
        let bytes = rename_entries(bytes, "Demo.Package.nusped", "Demo.Package.nuspec", 2);
        // The zip reader itself keeps a single entry for the name, so the check must look deeper.
        let archive = zip::ZipArchive::new(Cursor::new(bytes.clone())).unwrap();
        assert_eq!(archive.len(), 2);
        let err = read(bytes).unwrap_err();
        assert!(matches!(err, NupkgError::DuplicateEntry { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "The package contains two entries named 'Demo.Package.nuspec'."
        );

        // Any entry, not only the manifest.
        let bytes = zip_of(&[
            ("a.nuspec", NUSPEC.as_bytes()),
            ("lib/net8.0/One.dll", b"MZ1"),
            ("lib/net8.0/Two.dll", b"MZ2"),
        ]);
        let bytes = rename_entries(bytes, "lib/net8.0/Two.dll", "lib/net8.0/One.dll", 2);
        assert_eq!(
            read(bytes).unwrap_err().to_string(),
            "The package contains two entries named 'lib/net8.0/One.dll'."
        );
    }

    #[test]
    fn entry_names_differing_only_in_case_or_slashes_are_the_same_name() {
        for (first, second) in [
            ("lib/net8.0/Demo.dll", "LIB/NET8.0/demo.DLL"),
            ("lib/net8.0/Demo.dll", "lib\\net8.0\\Demo.dll"),
            ("content\\Ä.txt", "Content/ä.txt"),
            ("b.nuspec", "B.NUSPEC"),
        ] {
            let bytes = zip_of(&[
                ("a.nuspec", NUSPEC.as_bytes()),
                (first, b"1"),
                (second, b"2"),
            ]);
            let err = read(bytes).unwrap_err();
            let message = err.to_string();
            assert!(
                matches!(err, NupkgError::DuplicateEntry { .. }),
                "{first:?} / {second:?}: {message}"
            );
            assert!(
                message.starts_with("The package contains two entries with the same name, '"),
                "{message}"
            );
        }
        let bytes = zip_of(&[
            ("a.nuspec", NUSPEC.as_bytes()),
            ("lib/Demo.dll", b"1"),
            ("lib\\demo.DLL", b"2"),
        ]);
        assert_eq!(
            read(bytes).unwrap_err().to_string(),
            "The package contains two entries with the same name, 'lib/Demo.dll' and 'lib\\demo.DLL' \
             (NuGet ignores case in entry names and treats '\\' as '/')."
        );
        // Similar names that differ otherwise are fine.
        let bytes = zip_of(&[
            ("a.nuspec", NUSPEC.as_bytes()),
            ("lib/net8.0/Demo.dll", b"1"),
            ("lib/net8.0/Demo.dll.config", b"2"),
            ("lib/net80/Demo.dll", b"3"),
        ]);
        assert!(read(bytes).is_ok());
    }

    #[test]
    fn many_nuspecs_are_named_briefly() {
        let names: Vec<String> = (0..2000).map(|i| format!("m{i:04}.nuspec")).collect();
        let files: Vec<(&str, &[u8])> = names
            .iter()
            .map(|n| (n.as_str(), NUSPEC.as_bytes()))
            .collect();
        assert_eq!(
            read(zip_of(&files)).unwrap_err().to_string(),
            "The package contains more than one .nuspec file at its root: m0000.nuspec, m0001.nuspec, m0002.nuspec, m0003.nuspec, m0004.nuspec, and 1995 more."
        );
    }

    #[test]
    fn nuspec_only_in_subfolder() {
        let bytes = zip_of(&[("sub/a.nuspec", NUSPEC.as_bytes()), ("x.txt", b"x")]);
        assert_eq!(
            read(bytes).unwrap_err().to_string(),
            "The package does not contain a .nuspec file at its root."
        );
        // A nested one next to a root one is fine.
        let bytes = zip_of(&[
            ("sub/a.nuspec", NUSPEC.as_bytes()),
            ("a.nuspec", NUSPEC.as_bytes()),
        ]);
        assert!(read(bytes).is_ok());
    }

    #[test]
    fn unsafe_entry_names() {
        for (name, reason) in [
            ("../evil", "'..'"),
            ("lib/../../evil", "'..'"),
            ("lib\\..\\evil", "'..'"),
            ("/etc/passwd", "absolute"),
            ("\\windows\\evil", "absolute"),
            ("C:evil", "drive letter"),
            ("c:/evil", "drive letter"),
            ("evil\0.txt", "NUL"),
        ] {
            let bytes = zip_of(&[("a.nuspec", NUSPEC.as_bytes()), (name, b"x")]);
            let err = read(bytes).unwrap_err();
            let msg = err.to_string();
            assert!(
                matches!(err, NupkgError::UnsafeEntry { .. }) && msg.contains(reason),
                "{name:?}: {msg}"
            );
            assert!(msg.contains("unsafe name"), "{msg}");
        }
        // Dots that are not a whole segment are fine.
        assert_eq!(check_entry_name("lib/..foo/a..b/x.."), Ok(()));
    }

    #[test]
    fn nuspec_zip_bomb_is_capped() {
        // ~2 MiB of whitespace inside a comment compresses to a few KiB.
        let padding = " ".repeat(2 * 1024 * 1024);
        let bomb = NUSPEC.replace("<metadata>", &format!("<!--{padding}--><metadata>"));
        let bytes = zip_of(&[("a.nuspec", bomb.as_bytes())]);
        assert!(bytes.len() < 100 * 1024, "compressed size {}", bytes.len());
        assert_eq!(
            read(bytes).unwrap_err().to_string(),
            "The .nuspec file is larger than 1 MiB when decompressed."
        );
    }

    #[test]
    fn too_many_entries() {
        let files: Vec<(String, Vec<u8>)> = (0..5).map(|i| (format!("f{i}.txt"), vec![])).collect();
        let mut list: Vec<(&str, &[u8])> = files
            .iter()
            .map(|(n, d)| (n.as_str(), d.as_slice()))
            .collect();
        list.push(("a.nuspec", NUSPEC.as_bytes()));
        let limits = NupkgLimits {
            max_entries: 5,
            ..NupkgLimits::default()
        };
        let err = read_nupkg(Cursor::new(zip_of(&list)), &limits).unwrap_err();
        assert_eq!(
            err.to_string(),
            "The package contains 6 files, more than the limit of 5."
        );
    }

    #[test]
    fn invalid_nuspec_message_passes_through() {
        let bad = NUSPEC.replace("<id>Demo.Package</id>", "");
        let bytes = zip_of(&[("a.nuspec", bad.as_bytes())]);
        assert_eq!(
            read(bytes).unwrap_err().to_string(),
            "The .nuspec is missing the required element 'id'."
        );
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human_size(MIB), "1 MiB");
        assert_eq!(human_size(3 * MIB), "3 MiB");
        assert_eq!(human_size(2048), "2 KiB");
        assert_eq!(human_size(1000), "1000 bytes");
    }
}
