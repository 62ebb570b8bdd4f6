//! Portable PDBs and the PE files they belong to: just enough to name a PDB on a symbol server.
//!
//! A debugger asks a symbol server for a PDB by the id the module it debugs records: the
//! `{pdb name}/{guid}FFFFFFFF/{pdb name}` key of the Simple Symbol Query Protocol (SSQP). A portable
//! PDB carries that id as the first 20 bytes of its `#Pdb` stream (a GUID and a 4-byte stamp,
//! ECMA-335 metadata with the Portable PDB extensions); the DLL or EXE built with it records the same
//! GUID and stamp in a CodeView entry of its debug directory. [`read_pdb_id`] reads the first,
//! [`read_codeview_entries`] the second, so a server can check that a PDB belongs to a binary.
//!
//! Everything is read through bounded, checked offsets: a hostile file gives an error, never a panic,
//! an out-of-bounds read or a large allocation.

use std::io::{Read, Seek, SeekFrom};

/// The metadata root's signature, `BSJB`.
const METADATA_SIGNATURE: u32 = 0x424A_5342;
/// How a Windows (MSF) PDB starts: refused with a message of its own.
const MSF_SIGNATURE: &[u8] = b"Microsoft C/C++ MSF 7.00\r\n";
/// The longest metadata version string ECMA-335 allows (padded to a multiple of 4).
const MAX_VERSION_LENGTH: u32 = 256;
/// More streams than any metadata has (a portable PDB has about five).
const MAX_STREAMS: u16 = 64;
/// A stream name's longest spelling, its NUL included (ECMA-335 II.24.2.2).
const MAX_STREAM_NAME: usize = 32;
/// Most sections a PE file may declare (the PE/COFF specification's own limit).
const MAX_SECTIONS: u16 = 96;
/// Most debug directory entries looked at; compilers write a handful.
const MAX_DEBUG_ENTRIES: u32 = 64;
/// The longest CodeView path read.
const MAX_CODEVIEW_PATH: usize = 4096;
/// The CodeView debug directory entry type.
const IMAGE_DEBUG_TYPE_CODEVIEW: u32 = 2;
/// The CodeView entry version of a binary built with a portable PDB ("PM").
const PORTABLE_CODEVIEW_MINOR: u16 = 0x504D;

/// Why a file is not a usable portable PDB or PE file; every message is meant for the person pushing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PdbError {
    /// A Windows PDB (MSF format), which symbol servers for .NET packages do not take.
    #[error("it is a Windows PDB; only portable PDBs are supported (build with <DebugType>portable</DebugType>)")]
    WindowsPdb,
    /// Not metadata at all.
    #[error("it is not a portable PDB (no metadata signature)")]
    NotMetadata,
    /// Metadata, but without the `#Pdb` stream (an assembly's metadata, say).
    #[error("it is not a portable PDB (no #Pdb stream)")]
    NoPdbStream,
    /// A header or table points outside the file or is inconsistent.
    #[error("it is malformed: {0}")]
    Malformed(&'static str),
    /// Not a PE file.
    #[error("it is not a PE file (DLL or EXE)")]
    NotPe,
    /// The reader failed.
    #[error("it could not be read ({0})")]
    Io(String),
}

impl From<std::io::Error> for PdbError {
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            PdbError::Malformed("the file ends too early")
        } else {
            PdbError::Io(e.to_string())
        }
    }
}

/// A portable PDB's id: the GUID and stamp a debugger finds in the binary's CodeView entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PdbId {
    /// The GUID, in the byte order it is stored in (a .NET `Guid`'s `ToByteArray()` order).
    pub guid: [u8; 16],
    /// The stamp (the binary's debug directory entry `TimeDateStamp`).
    pub stamp: u32,
}

impl PdbId {
    /// The GUID as .NET's `Guid.ToString("N")` writes it: 32 lower-case hex digits, the first three
    /// fields read little-endian.
    pub fn guid_string(&self) -> String {
        guid_string(&self.guid)
    }

    /// The SSQP key's middle segment for a portable PDB: the GUID followed by `ffffffff` (portable PDBs
    /// have no age; the convention puts all ones in its place), lower case.
    pub fn ssqp_key(&self) -> String {
        format!("{}ffffffff", self.guid_string())
    }
}

/// A GUID's bytes as `Guid.ToString("N")` writes them.
fn guid_string(guid: &[u8; 16]) -> String {
    let order = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15];
    order.iter().map(|&i| format!("{:02x}", guid[i])).collect()
}

/// A CodeView (RSDS) entry of a PE file's debug directory: the PDB the binary was built with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeViewEntry {
    /// The PDB's GUID.
    pub guid: [u8; 16],
    /// The PDB age (1 for a portable PDB).
    pub age: u32,
    /// The entry's `TimeDateStamp`, which for a portable PDB is the stamp of its id.
    pub stamp: u32,
    /// The PDB path the compiler recorded (lossy UTF-8).
    pub path: String,
    /// Whether the entry says the PDB is portable (version 0x0100.0x504D).
    pub portable: bool,
}

impl CodeViewEntry {
    /// Whether a portable PDB with id `id` is the one this entry names.
    pub fn matches(&self, id: &PdbId) -> bool {
        self.guid == id.guid && (!self.portable || self.stamp == id.stamp)
    }
}

/// A bounded little-endian reader over a seekable source of known length.
struct Source<R> {
    reader: R,
    len: u64,
}

impl<R: Read + Seek> Source<R> {
    fn new(mut reader: R) -> Result<Self, PdbError> {
        let len = reader.seek(SeekFrom::End(0))?;
        Ok(Source { reader, len })
    }

    /// Exactly `n` bytes at `offset`, refused when they would run past the end.
    fn bytes(&mut self, offset: u64, n: usize, what: &'static str) -> Result<Vec<u8>, PdbError> {
        let end = offset
            .checked_add(n as u64)
            .ok_or(PdbError::Malformed(what))?;
        if end > self.len {
            return Err(PdbError::Malformed(what));
        }
        self.reader.seek(SeekFrom::Start(offset))?;
        let mut buf = vec![0u8; n];
        self.reader.read_exact(&mut buf)?;
        Ok(buf)
    }

    /// Up to `n` bytes at `offset` (fewer at the end of the file).
    fn bytes_upto(&mut self, offset: u64, n: usize) -> Result<Vec<u8>, PdbError> {
        let available = self.len.saturating_sub(offset).min(n as u64) as usize;
        if available == 0 {
            return Ok(Vec::new());
        }
        self.bytes(offset, available, "read past the end")
    }

    fn u16(&mut self, offset: u64, what: &'static str) -> Result<u16, PdbError> {
        let b = self.bytes(offset, 2, what)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self, offset: u64, what: &'static str) -> Result<u32, PdbError> {
        let b = self.bytes(offset, 4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn le_u16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

/// Reads a portable PDB's id from its `#Pdb` stream.
///
/// Checks the metadata root (signature, version string, stream headers inside the file) and that the
/// `#Pdb` stream is large enough for its fixed part and the row counts it declares.
pub fn read_pdb_id<R: Read + Seek>(reader: R) -> Result<PdbId, PdbError> {
    let mut src = Source::new(reader)?;
    let head = src.bytes_upto(0, MSF_SIGNATURE.len())?;
    if head.as_slice() == MSF_SIGNATURE {
        return Err(PdbError::WindowsPdb);
    }
    if head.len() < 4 || le_u32(&head, 0) != METADATA_SIGNATURE {
        return Err(PdbError::NotMetadata);
    }
    let version_length = src.u32(12, "the metadata header is cut short")?;
    if version_length > MAX_VERSION_LENGTH || version_length % 4 != 0 {
        return Err(PdbError::Malformed(
            "the metadata version string has an invalid length",
        ));
    }
    let after_version = 16 + u64::from(version_length);
    let streams = src.u16(after_version + 2, "the metadata header is cut short")?;
    if streams > MAX_STREAMS {
        return Err(PdbError::Malformed(
            "the metadata declares too many streams",
        ));
    }
    let mut at = after_version + 4;
    let mut pdb_stream = None;
    for _ in 0..streams {
        let offset = src.u32(at, "a stream header is cut short")?;
        let size = src.u32(at + 4, "a stream header is cut short")?;
        let name_bytes = src.bytes_upto(at + 8, MAX_STREAM_NAME)?;
        let name_len = name_bytes
            .iter()
            .position(|&b| b == 0)
            .ok_or(PdbError::Malformed("a stream name is not terminated"))?;
        let name = &name_bytes[..name_len];
        // The name, its NUL, padded to a multiple of four.
        at += 8 + ((name_len as u64 + 4) & !3);
        if u64::from(offset) + u64::from(size) > src.len {
            return Err(PdbError::Malformed("a stream lies outside the file"));
        }
        if name == b"#Pdb" {
            if pdb_stream.is_some() {
                return Err(PdbError::Malformed("the #Pdb stream appears twice"));
            }
            pdb_stream = Some((offset, size));
        }
    }
    let (offset, size) = pdb_stream.ok_or(PdbError::NoPdbStream)?;
    // PdbId (20), EntryPoint (4), ReferencedTypeSystemTables (8), then one row count per table.
    if size < 32 {
        return Err(PdbError::Malformed("the #Pdb stream is too short"));
    }
    let fixed = src.bytes(u64::from(offset), 32, "the #Pdb stream is cut short")?;
    let referenced = u64::from(le_u32(&fixed, 24)) | (u64::from(le_u32(&fixed, 28)) << 32);
    if 32 + 4 * u64::from(referenced.count_ones()) > u64::from(size) {
        return Err(PdbError::Malformed(
            "the #Pdb stream is too short for the tables it references",
        ));
    }
    let mut guid = [0u8; 16];
    guid.copy_from_slice(&fixed[..16]);
    Ok(PdbId {
        guid,
        stamp: le_u32(&fixed, 16),
    })
}

/// [`read_pdb_id`] over bytes in memory.
pub fn parse_pdb_id(bytes: &[u8]) -> Result<PdbId, PdbError> {
    read_pdb_id(std::io::Cursor::new(bytes))
}

/// One section's mapping from relative virtual addresses to file offsets.
struct Section {
    virtual_address: u32,
    virtual_size: u32,
    raw_size: u32,
    raw_pointer: u32,
}

/// Reads the CodeView (RSDS) entries of a PE file's debug directory: the PDBs it was built with.
///
/// A PE file without a debug directory has none (an empty list, not an error).
pub fn read_codeview_entries<R: Read + Seek>(reader: R) -> Result<Vec<CodeViewEntry>, PdbError> {
    let mut src = Source::new(reader)?;
    if src.bytes_upto(0, 2)?.as_slice() != b"MZ" {
        return Err(PdbError::NotPe);
    }
    let pe = u64::from(src.u32(0x3C, "the DOS header is cut short")?);
    if src.bytes_upto(pe, 4)?.as_slice() != b"PE\0\0" {
        return Err(PdbError::NotPe);
    }
    let coff = pe + 4;
    let sections = src.u16(coff + 2, "the COFF header is cut short")?;
    if sections > MAX_SECTIONS {
        return Err(PdbError::Malformed(
            "the PE file declares too many sections",
        ));
    }
    let optional_size = src.u16(coff + 16, "the COFF header is cut short")?;
    let optional = coff + 20;
    let magic = src.u16(optional, "the optional header is cut short")?;
    let (count_at, directories_at) = match magic {
        0x10B => (92u64, 96u64),
        0x20B => (108, 112),
        _ => {
            return Err(PdbError::Malformed(
                "the optional header has an unknown magic number",
            ))
        }
    };
    if u64::from(optional_size) < directories_at {
        return Err(PdbError::Malformed("the optional header is too short"));
    }
    let directory_count = src.u32(optional + count_at, "the optional header is cut short")?;
    // The debug directory is data directory 6.
    if directory_count <= 6 || u64::from(optional_size) < directories_at + 7 * 8 {
        return Ok(Vec::new());
    }
    let debug_rva = src.u32(
        optional + directories_at + 48,
        "the data directories are cut short",
    )?;
    let debug_size = src.u32(
        optional + directories_at + 52,
        "the data directories are cut short",
    )?;
    if debug_rva == 0 || debug_size == 0 {
        return Ok(Vec::new());
    }
    let table = optional + u64::from(optional_size);
    let mut mapped = Vec::with_capacity(usize::from(sections));
    for i in 0..u64::from(sections) {
        let header = src.bytes(table + i * 40, 40, "the section table is cut short")?;
        mapped.push(Section {
            virtual_size: le_u32(&header, 8),
            virtual_address: le_u32(&header, 12),
            raw_size: le_u32(&header, 16),
            raw_pointer: le_u32(&header, 20),
        });
    }
    let file_offset = |rva: u32| -> Option<u64> {
        mapped.iter().find_map(|s| {
            let extent = s.virtual_size.max(s.raw_size);
            let inside = rva >= s.virtual_address
                && u64::from(rva) < u64::from(s.virtual_address) + u64::from(extent);
            inside.then(|| u64::from(rva - s.virtual_address) + u64::from(s.raw_pointer))
        })
    };
    let directory = file_offset(debug_rva).ok_or(PdbError::Malformed(
        "the debug directory lies in no section",
    ))?;
    let entries = (debug_size / 28).min(MAX_DEBUG_ENTRIES);
    let mut found = Vec::new();
    for i in 0..u64::from(entries) {
        let entry = src.bytes(directory + i * 28, 28, "the debug directory is cut short")?;
        if le_u32(&entry, 12) != IMAGE_DEBUG_TYPE_CODEVIEW {
            continue;
        }
        let data_size = le_u32(&entry, 16);
        let data_at = u64::from(le_u32(&entry, 24));
        if data_size < 24 {
            return Err(PdbError::Malformed("a CodeView entry is too short"));
        }
        let data = src.bytes(data_at, 24, "a CodeView entry lies outside the file")?;
        if &data[..4] != b"RSDS" {
            continue;
        }
        let path_room = (data_size as usize - 24).min(MAX_CODEVIEW_PATH);
        let path_bytes = src.bytes_upto(data_at + 24, path_room)?;
        let path_end = path_bytes
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(path_bytes.len());
        let mut guid = [0u8; 16];
        guid.copy_from_slice(&data[4..20]);
        found.push(CodeViewEntry {
            guid,
            age: le_u32(&data, 20),
            stamp: le_u32(&entry, 4),
            path: String::from_utf8_lossy(&path_bytes[..path_end]).into_owned(),
            portable: le_u16(&entry, 8) == 0x0100 && le_u16(&entry, 10) == PORTABLE_CODEVIEW_MINOR,
        });
    }
    Ok(found)
}

/// [`read_codeview_entries`] over bytes in memory.
pub fn parse_codeview_entries(bytes: &[u8]) -> Result<Vec<CodeViewEntry>, PdbError> {
    read_codeview_entries(std::io::Cursor::new(bytes))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A minimal portable PDB: metadata root, a `#Pdb` stream and a `#~` stream.
    pub(crate) fn portable_pdb(guid: [u8; 16], stamp: u32) -> Vec<u8> {
        let version = b"PDB v1.0\0\0\0\0";
        let mut out = Vec::new();
        out.extend_from_slice(&METADATA_SIGNATURE.to_le_bytes());
        out.extend_from_slice(&1u16.to_le_bytes());
        out.extend_from_slice(&1u16.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&(version.len() as u32).to_le_bytes());
        out.extend_from_slice(version);
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&2u16.to_le_bytes());
        // Two headers of 8 + 8 bytes ("#Pdb\0" and "#~\0" each padded to 8 and 4).
        let headers_end = out.len() + 16 + 12;
        let pdb_at = headers_end as u32;
        let pdb_size = 32 + 4;
        out.extend_from_slice(&pdb_at.to_le_bytes());
        out.extend_from_slice(&(pdb_size as u32).to_le_bytes());
        out.extend_from_slice(b"#Pdb\0\0\0\0");
        out.extend_from_slice(&(pdb_at + pdb_size as u32).to_le_bytes());
        out.extend_from_slice(&4u32.to_le_bytes());
        out.extend_from_slice(b"#~\0\0");
        assert_eq!(out.len(), headers_end);
        out.extend_from_slice(&guid);
        out.extend_from_slice(&stamp.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        // One referenced table (Module), one row count.
        out.extend_from_slice(&1u64.to_le_bytes());
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&[0u8; 4]);
        out
    }

    /// A minimal PE32+ file with one section holding a debug directory with one CodeView entry.
    pub(crate) fn pe_with_codeview(guid: [u8; 16], stamp: u32, portable: bool) -> Vec<u8> {
        let mut out = vec![0u8; 0x400];
        out[0..2].copy_from_slice(b"MZ");
        let pe = 0x80usize;
        out[0x3C..0x40].copy_from_slice(&(pe as u32).to_le_bytes());
        out[pe..pe + 4].copy_from_slice(b"PE\0\0");
        let coff = pe + 4;
        out[coff + 2..coff + 4].copy_from_slice(&1u16.to_le_bytes());
        let optional_size: u16 = 240;
        out[coff + 16..coff + 18].copy_from_slice(&optional_size.to_le_bytes());
        let optional = coff + 20;
        out[optional..optional + 2].copy_from_slice(&0x20Bu16.to_le_bytes());
        out[optional + 108..optional + 112].copy_from_slice(&16u32.to_le_bytes());
        // The section: RVA 0x2000 at file offset 0x200, 0x200 bytes.
        let debug_rva = 0x2000u32;
        out[optional + 112 + 48..optional + 112 + 52].copy_from_slice(&debug_rva.to_le_bytes());
        out[optional + 112 + 52..optional + 112 + 56].copy_from_slice(&28u32.to_le_bytes());
        let section = optional + usize::from(optional_size);
        out[section..section + 6].copy_from_slice(b".text\0");
        out[section + 8..section + 12].copy_from_slice(&0x200u32.to_le_bytes());
        out[section + 12..section + 16].copy_from_slice(&debug_rva.to_le_bytes());
        out[section + 16..section + 20].copy_from_slice(&0x200u32.to_le_bytes());
        out[section + 20..section + 24].copy_from_slice(&0x200u32.to_le_bytes());
        let entry = 0x200usize;
        out[entry + 4..entry + 8].copy_from_slice(&stamp.to_le_bytes());
        if portable {
            out[entry + 8..entry + 10].copy_from_slice(&0x0100u16.to_le_bytes());
            out[entry + 10..entry + 12].copy_from_slice(&0x504Du16.to_le_bytes());
        }
        out[entry + 12..entry + 16].copy_from_slice(&2u32.to_le_bytes());
        let data = 0x240usize;
        let path = b"/src/Demo/obj/Demo.pdb\0";
        out[entry + 16..entry + 20].copy_from_slice(&((24 + path.len()) as u32).to_le_bytes());
        out[entry + 20..entry + 24].copy_from_slice(&(debug_rva + 0x40).to_le_bytes());
        out[entry + 24..entry + 28].copy_from_slice(&(data as u32).to_le_bytes());
        out[data..data + 4].copy_from_slice(b"RSDS");
        out[data + 4..data + 20].copy_from_slice(&guid);
        out[data + 20..data + 24].copy_from_slice(&1u32.to_le_bytes());
        out[data + 24..data + 24 + path.len()].copy_from_slice(path);
        out
    }

    const GUID: [u8; 16] = [
        0xb2, 0xf6, 0xf8, 0x95, 0xbc, 0xaf, 0xe4, 0x45, 0x88, 0x4c, 0xb4, 0xa5, 0xbf, 0x5a, 0xdd,
        0xd2,
    ];

    #[test]
    fn reads_the_id_of_a_portable_pdb() {
        let id = parse_pdb_id(&portable_pdb(GUID, 0xfc31_f2b1)).unwrap();
        assert_eq!(id.guid, GUID);
        assert_eq!(id.stamp, 0xfc31_f2b1);
        assert_eq!(id.guid_string(), "95f8f6b2afbc45e4884cb4a5bf5addd2");
        assert_eq!(id.ssqp_key(), "95f8f6b2afbc45e4884cb4a5bf5addd2ffffffff");
    }

    #[test]
    fn refuses_what_is_not_a_portable_pdb() {
        let mut windows = MSF_SIGNATURE.to_vec();
        windows.extend_from_slice(b"\x1aDS\0\0\0");
        assert_eq!(parse_pdb_id(&windows), Err(PdbError::WindowsPdb));
        assert_eq!(parse_pdb_id(b""), Err(PdbError::NotMetadata));
        assert_eq!(parse_pdb_id(b"MZ\x90\0"), Err(PdbError::NotMetadata));
        // Assembly metadata: a root whose streams do not include #Pdb.
        let mut assembly = portable_pdb(GUID, 1);
        let at = assembly.windows(4).position(|w| w == b"#Pdb").unwrap();
        assembly[at..at + 4].copy_from_slice(b"#Blo");
        assert_eq!(parse_pdb_id(&assembly), Err(PdbError::NoPdbStream));
        assert!(PdbError::WindowsPdb.to_string().contains("portable"));
    }

    #[test]
    fn refuses_truncated_and_inconsistent_headers() {
        let pdb = portable_pdb(GUID, 1);
        for cut in [8, 16, 30, 40, 60, pdb.len() - 1] {
            assert!(
                matches!(parse_pdb_id(&pdb[..cut]), Err(PdbError::Malformed(_))),
                "cut at {cut}: {:?}",
                parse_pdb_id(&pdb[..cut])
            );
        }
        let mut long_version = pdb.clone();
        long_version[12..16].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
        assert!(matches!(
            parse_pdb_id(&long_version),
            Err(PdbError::Malformed(_))
        ));
        // A #Pdb stream declaring more referenced tables than it has row counts for.
        let mut greedy = pdb.clone();
        let at = greedy.len() - 4 - 4 - 8;
        greedy[at..at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(parse_pdb_id(&greedy), Err(PdbError::Malformed(_))));
    }

    #[test]
    fn reads_codeview_entries_and_matches_them() {
        let pe = pe_with_codeview(GUID, 0xfc31_f2b1, true);
        let entries = parse_codeview_entries(&pe).unwrap();
        assert_eq!(entries.len(), 1);
        let entry = &entries[0];
        assert!(entry.portable);
        assert_eq!(entry.age, 1);
        assert_eq!(entry.path, "/src/Demo/obj/Demo.pdb");
        let id = parse_pdb_id(&portable_pdb(GUID, 0xfc31_f2b1)).unwrap();
        assert!(entry.matches(&id));
        let other_stamp = PdbId { stamp: 7, ..id };
        assert!(!entry.matches(&other_stamp));
        let mut other_guid = id;
        other_guid.guid[0] ^= 1;
        assert!(!entry.matches(&other_guid));
    }

    #[test]
    fn refuses_what_is_not_a_pe_file() {
        assert_eq!(parse_codeview_entries(b""), Err(PdbError::NotPe));
        assert_eq!(
            parse_codeview_entries(&portable_pdb(GUID, 1)),
            Err(PdbError::NotPe)
        );
        let mut pe = pe_with_codeview(GUID, 1, true);
        pe[0x3C..0x40].copy_from_slice(&0xFFFF_FF00u32.to_le_bytes());
        assert_eq!(parse_codeview_entries(&pe), Err(PdbError::NotPe));
        let pe = pe_with_codeview(GUID, 1, true);
        for cut in [0x90, 0x100, 0x1F0, 0x210, 0x250] {
            assert!(
                parse_codeview_entries(&pe[..cut]).is_err(),
                "cut at {cut:#x}"
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Whatever the GUID and stamp, they come back out, and the key is 40 lower-case hex digits.
        #[test]
        fn ids_round_trip(guid in proptest::array::uniform16(any::<u8>()), stamp in any::<u32>()) {
            let id = parse_pdb_id(&portable_pdb(guid, stamp)).unwrap();
            prop_assert_eq!(id, PdbId { guid, stamp });
            let key = id.ssqp_key();
            prop_assert_eq!(key.len(), 40);
            prop_assert!(key.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)));
            let entries = parse_codeview_entries(&pe_with_codeview(guid, stamp, true)).unwrap();
            prop_assert!(entries[0].matches(&id));
        }

        /// Arbitrary bytes, or a valid file with bytes changed, never panic either reader.
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600),
                        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..8)) {
            let _ = parse_pdb_id(&bytes);
            let _ = parse_codeview_entries(&bytes);
            let mut pdb = portable_pdb([7; 16], 9);
            let mut pe = pe_with_codeview([7; 16], 9, true);
            for (at, value) in flips {
                let i = at % pdb.len();
                pdb[i] = value;
                let j = at % pe.len();
                pe[j] = value;
            }
            let _ = parse_pdb_id(&pdb);
            let _ = parse_codeview_entries(&pe);
        }
    }
}
