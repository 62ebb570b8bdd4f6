//! Fuzzes portable PDB ids, PE CodeView entries and `.snupkg` reading: no panics, and an id read once
//! reads the same again.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use nuget_formats::pdb::{parse_codeview_entries, parse_pdb_id};
use nuget_formats::{read_snupkg, NupkgLimits};

fuzz_target!(|data: &[u8]| {
    if let Ok(id) = parse_pdb_id(data) {
        assert_eq!(parse_pdb_id(data), Ok(id));
        assert_eq!(id.ssqp_key().len(), 40);
    }
    if let Ok(entries) = parse_codeview_entries(data) {
        assert!(entries.len() <= 64);
    }
    let limits = NupkgLimits::default();
    if let Ok(mut snupkg) = read_snupkg(Cursor::new(data), &limits) {
        assert!(!snupkg.pdbs.is_empty());
        for index in snupkg.pdbs.clone() {
            let mut out = Vec::new();
            if let Ok(Some(size)) = snupkg.archive.copy_entry(index, &mut out, 1 << 20) {
                assert_eq!(size as usize, out.len());
                let _ = parse_pdb_id(&out);
            }
        }
    }
});
