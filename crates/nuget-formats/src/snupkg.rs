//! Symbol packages (`.snupkg`): a zip like a `.nupkg`, whose `.nuspec` names the package it belongs to
//! and declares the `SymbolsPackage` package type, holding one portable PDB beside each DLL or EXE of
//! that package (same folder, same name) and nothing else but the package metadata.
//!
//! [`read_snupkg`] checks the archive and its manifest; the PDBs are then read with
//! [`PackageArchive::copy_entry`] and [`crate::pdb::read_pdb_id`], and matched against the package's
//! binaries ([`binary_paths`], [`crate::pdb::read_codeview_entries`]). The errors for every step are
//! [`SnupkgError`]s, worded for the person pushing.

use std::io::{Read, Seek};

use crate::nupkg::{root_nuspec, NupkgError, NupkgLimits, PackageArchive};
use crate::nuspec::NuspecIdentity;
use crate::pdb::PdbError;
use crate::version::shorten;

/// The package type a symbols package's `.nuspec` must declare.
pub const SYMBOLS_PACKAGE_TYPE: &str = "SymbolsPackage";

/// The files NuGet.org accepts in a symbols package besides the PDBs: the manifest, the OPC metadata
/// (`[Content_Types].xml`, `_rels/.rels`, `package/services/metadata/core-properties/*.psmdcp`) and a
/// signature.
const METADATA_EXTENSIONS: &[&str] = &[".nuspec", ".xml", ".psmdcp", ".rels", ".p7s"];

/// Why a symbols package was refused; every message is meant for the person pushing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnupkgError {
    /// The archive or its manifest is unusable (the same checks as a package's).
    #[error(transparent)]
    Archive(#[from] NupkgError),
    /// The manifest does not declare the `SymbolsPackage` package type.
    #[error("The symbols package's .nuspec does not declare the package type 'SymbolsPackage' (<packageTypes><packageType name=\"SymbolsPackage\" /></packageTypes>); pack it with -SymbolPackageFormat snupkg.")]
    NotSymbolsPackage,
    /// A file other than a PDB or package metadata.
    #[error("The symbols package contains '{0}', but only .pdb files may be in it besides the package metadata (.nuspec, .xml, .psmdcp, .rels, .p7s).")]
    DisallowedFile(String),
    /// No PDB at all.
    #[error("The symbols package contains no .pdb file.")]
    NoPdb,
    /// A file decompresses to more than the limit.
    #[error(
        "The file '{name}' in the symbols package is larger than {limit} bytes when decompressed."
    )]
    FileTooLarge {
        /// The entry's name.
        name: String,
        /// The limit, in bytes.
        limit: u64,
    },
    /// A `.pdb` that is not a readable portable PDB.
    #[error("The file '{name}' in the symbols package is not usable: {error}.")]
    InvalidPdb {
        /// The entry's name.
        name: String,
        /// What is wrong with it.
        error: PdbError,
    },
    /// A PDB without a DLL or EXE of the same name in the same folder of the package.
    #[error("The symbols package contains '{pdb}', but the package has no '{dll}' or '{exe}' for it: each PDB must sit at the path of the DLL or EXE it was built with.")]
    NoMatchingBinary {
        /// The PDB's entry name.
        pdb: String,
        /// The DLL looked for.
        dll: String,
        /// The EXE looked for.
        exe: String,
    },
    /// A PDB whose id is not the one its binary records.
    #[error("The PDB '{pdb}' does not match '{binary}': the binary was built with another PDB. Pack the DLLs and PDBs of one build together.")]
    MismatchedBinary {
        /// The PDB's entry name.
        pdb: String,
        /// The binary's entry name.
        binary: String,
    },
}

/// A symbols package whose structure and manifest passed [`read_snupkg`].
pub struct Snupkg<R> {
    /// The archive, for reading the PDBs.
    pub archive: PackageArchive<R>,
    /// The package the symbols belong to (and the package types the manifest declares).
    pub identity: NuspecIdentity,
    /// Indexes (into `archive.entries()`) of the `.pdb` files, in archive order.
    pub pdbs: Vec<usize>,
}

/// Checks a symbols package: the archive opens, its entry names are safe and distinct, it has one root
/// `.nuspec` with a valid ID and version declaring the `SymbolsPackage` type, and it holds at least one
/// `.pdb` and nothing but `.pdb` files and package metadata.
pub fn read_snupkg<R: Read + Seek>(
    reader: R,
    limits: &NupkgLimits,
) -> Result<Snupkg<R>, SnupkgError> {
    let mut archive = PackageArchive::open(reader, limits.max_entries)?;
    let nuspec_index = root_nuspec(archive.entries())?;
    let nuspec_bytes = archive
        .read_entry(nuspec_index, limits.max_nuspec_bytes)?
        .ok_or(NupkgError::NuspecTooLarge(limits.max_nuspec_bytes))?;
    let identity = NuspecIdentity::parse(&nuspec_bytes).map_err(NupkgError::Nuspec)?;
    if !identity
        .package_types
        .iter()
        .any(|t| t.name.eq_ignore_ascii_case(SYMBOLS_PACKAGE_TYPE))
    {
        return Err(SnupkgError::NotSymbolsPackage);
    }
    let mut pdbs = Vec::new();
    for (index, name) in archive.entries().iter().enumerate() {
        // Folder entries some zip tools write carry no data.
        if name.ends_with('/') || name.ends_with('\\') {
            continue;
        }
        let lower = name.to_lowercase();
        if lower.ends_with(".pdb") {
            pdbs.push(index);
        } else if !METADATA_EXTENSIONS.iter().any(|ext| lower.ends_with(ext)) {
            return Err(SnupkgError::DisallowedFile(shorten(
                &name.escape_debug().to_string(),
            )));
        }
    }
    if pdbs.is_empty() {
        return Err(SnupkgError::NoPdb);
    }
    Ok(Snupkg {
        archive,
        identity,
        pdbs,
    })
}

/// The package paths of the DLL and the EXE a PDB at `pdb_path` belongs to (`\` read as `/`).
pub fn binary_paths(pdb_path: &str) -> [String; 2] {
    let path = pdb_path.replace('\\', "/");
    let stem = path
        .len()
        .checked_sub(4)
        .filter(|&at| path.is_char_boundary(at) && path[at..].eq_ignore_ascii_case(".pdb"))
        .map_or(path.as_str(), |at| &path[..at]);
    [format!("{stem}.dll"), format!("{stem}.exe")]
}

/// The file name of an entry (what a debugger asks the symbol server for).
pub fn file_name(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::io::{Cursor, Write};
    use zip::write::SimpleFileOptions;

    /// The manifest nuget.exe writes into a `.snupkg` (no authors: NuGet leaves them out).
    const NUSPEC: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<package xmlns="http://schemas.microsoft.com/packaging/2012/06/nuspec.xsd">
  <metadata>
    <id>Demo.Lib</id>
    <version>1.0.0</version>
    <description>Demo</description>
    <packageTypes>
      <packageType name="SymbolsPackage" />
    </packageTypes>
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

    fn read(files: &[(&str, &[u8])]) -> Result<Snupkg<Cursor<Vec<u8>>>, SnupkgError> {
        read_snupkg(Cursor::new(zip_of(files)), &NupkgLimits::default())
    }

    #[test]
    fn reads_a_symbols_package() {
        let mut snupkg = read(&[
            ("Demo.Lib.nuspec", NUSPEC.as_bytes()),
            ("lib/net8.0/Demo.Lib.pdb", b"pdb bytes"),
            ("[Content_Types].xml", b"<Types/>"),
            ("_rels/.rels", b"<Relationships/>"),
            (
                "package/services/metadata/core-properties/abc.psmdcp",
                b"<x/>",
            ),
            ("lib/", b""),
        ])
        .unwrap();
        assert_eq!(snupkg.identity.id, "Demo.Lib");
        assert_eq!(snupkg.identity.version.normalized(), "1.0.0");
        assert_eq!(snupkg.pdbs, [1]);
        let mut out = Vec::new();
        assert_eq!(
            snupkg.archive.copy_entry(1, &mut out, 100).unwrap(),
            Some(9)
        );
        assert_eq!(out, b"pdb bytes");
        let mut capped = Vec::new();
        assert_eq!(snupkg.archive.copy_entry(1, &mut capped, 4).unwrap(), None);
        assert_eq!(snupkg.archive.find("LIB\\net8.0\\demo.lib.PDB"), Some(1));
    }

    #[test]
    fn refuses_what_nuget_org_refuses() {
        let plain = NUSPEC.replace(
            "<packageTypes>\n      <packageType name=\"SymbolsPackage\" />\n    </packageTypes>",
            "",
        );
        assert!(matches!(
            read(&[("Demo.Lib.nuspec", plain.as_bytes()), ("a.pdb", b"x")]),
            Err(SnupkgError::NotSymbolsPackage)
        ));
        let dll = read(&[
            ("Demo.Lib.nuspec", NUSPEC.as_bytes()),
            ("lib/net8.0/Demo.Lib.pdb", b"x"),
            ("lib/net8.0/Demo.Lib.dll", b"MZ"),
        ]);
        match dll {
            Err(e @ SnupkgError::DisallowedFile(_)) => {
                assert!(e.to_string().contains("'lib/net8.0/Demo.Lib.dll'"), "{e}")
            }
            Err(other) => panic!("unexpected error {other}"),
            Ok(_) => panic!("a DLL in a symbols package was accepted"),
        }
        assert!(matches!(
            read(&[("Demo.Lib.nuspec", NUSPEC.as_bytes())]),
            Err(SnupkgError::NoPdb)
        ));
        assert!(matches!(
            read(&[("lib/a.pdb", b"x")]),
            Err(SnupkgError::Archive(NupkgError::NoNuspec))
        ));
        assert!(matches!(
            read(&[
                ("Demo.Lib.nuspec", NUSPEC.as_bytes()),
                ("a.pdb", b"x"),
                ("A.PDB", b"y")
            ]),
            Err(SnupkgError::Archive(NupkgError::DuplicateEntry { .. }))
        ));
        let bad_id = NUSPEC.replace("Demo.Lib</id>", "Demo Lib</id>");
        assert!(matches!(
            read(&[("x.nuspec", bad_id.as_bytes()), ("a.pdb", b"x")]),
            Err(SnupkgError::Archive(NupkgError::Nuspec(_)))
        ));
        assert!(matches!(
            read_snupkg(Cursor::new(b"not a zip".to_vec()), &NupkgLimits::default()),
            Err(SnupkgError::Archive(NupkgError::InvalidZip(_)))
        ));
    }

    #[test]
    fn pdbs_belong_to_the_binaries_beside_them() {
        assert_eq!(
            binary_paths("lib/net8.0/Demo.Lib.pdb"),
            ["lib/net8.0/Demo.Lib.dll", "lib/net8.0/Demo.Lib.exe"]
        );
        assert_eq!(
            binary_paths("tools\\Demo.PDB"),
            ["tools/Demo.dll", "tools/Demo.exe"]
        );
        assert_eq!(file_name("lib/net8.0/Demo.Lib.pdb"), "Demo.Lib.pdb");
        assert_eq!(file_name("lib\\Demo.pdb"), "Demo.pdb");
        assert_eq!(file_name("Demo.pdb"), "Demo.pdb");
        let message = SnupkgError::NoMatchingBinary {
            pdb: "lib/Other.pdb".into(),
            dll: "lib/Other.dll".into(),
            exe: "lib/Other.exe".into(),
        }
        .to_string();
        assert!(message.contains("'lib/Other.pdb'") && message.contains("'lib/Other.dll'"));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// A package is accepted exactly when every file is a PDB or metadata and one is a PDB; the PDBs
        /// are the `.pdb` entries.
        #[test]
        fn accepts_exactly_pdbs_and_metadata(
            files in proptest::collection::btree_set(
                ("[a-z]{1,8}", prop::sample::select(vec![".pdb", ".PDB", ".xml", ".rels", ".dll", ".txt", ".p7s"])),
                0..6,
            )
        ) {
            let names: Vec<String> = files.iter().map(|(stem, ext)| format!("lib/{stem}{ext}")).collect();
            let lower: std::collections::HashSet<String> = names.iter().map(|n| n.to_lowercase()).collect();
            prop_assume!(lower.len() == names.len());
            let mut entries: Vec<(&str, &[u8])> = vec![("Demo.Lib.nuspec", NUSPEC.as_bytes())];
            entries.extend(names.iter().map(|n| (n.as_str(), &b"x"[..])));
            let result = read(&entries);
            let disallowed = names.iter().any(|n| {
                let n = n.to_lowercase();
                n.ends_with(".dll") || n.ends_with(".txt")
            });
            let pdbs = names.iter().filter(|n| n.to_lowercase().ends_with(".pdb")).count();
            match result {
                Ok(snupkg) => {
                    prop_assert!(!disallowed && pdbs > 0);
                    prop_assert_eq!(snupkg.pdbs.len(), pdbs);
                }
                Err(SnupkgError::DisallowedFile(_)) => prop_assert!(disallowed),
                Err(SnupkgError::NoPdb) => prop_assert!(!disallowed && pdbs == 0),
                Err(other) => prop_assert!(false, "unexpected error {}", other),
            }
        }
    }
}
