//! Pure parsing and validation of NuGet's formats: versions, version ranges,
//! package IDs, `.nuspec` manifests, `.nupkg` and `.snupkg` archives, the
//! ids of portable PDBs; the OData query options of the V2 feed, the
//! fields of NuGet.org's deprecation API, and other feeds' service indexes and
//! registration documents.
//!
//! The crate does no I/O of its own beyond the reader handed to
//! [`read_nupkg`], so the server can validate uploads before storing anything.
//! Every error's `Display` text is written for the person pushing a package:
//! it is sent back verbatim in HTTP 400 responses.
//!
//! ```
//! use nuget_formats::{NuGetVersion, VersionRange};
//!
//! let v = NuGetVersion::parse("01.2.0.0-Beta.1+build.7").unwrap();
//! assert_eq!(v.normalized(), "1.2.0-Beta.1");
//! assert_eq!(v.full_string(), "1.2.0-Beta.1+build.7");
//! assert!(v < NuGetVersion::parse("1.2.0").unwrap());
//!
//! let range = VersionRange::parse("[1.0,2.0)").unwrap();
//! assert_eq!(range.normalized(), "[1.0.0, 2.0.0)");
//! assert!(range.satisfies(&v));
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod deprecation;
pub mod id;
pub mod nupkg;
pub mod nuspec;
pub mod odata;
pub mod pdb;
pub mod range;
pub mod registration;
pub mod snupkg;
pub mod version;

pub use id::{validate_id, IdError};
pub use nupkg::{read_nupkg, Nupkg, NupkgError, NupkgLimits, PackageArchive};
pub use nuspec::{
    Dependency, DependencyGroup, FrameworkAssembly, License, Nuspec, NuspecError, NuspecIdentity,
    PackageType, Repository,
};
pub use odata::{
    parse_filter, parse_orderby, parse_select, Filter, ODataError, OrderKey, Property, Select,
};
pub use pdb::{CodeViewEntry, PdbError, PdbId};
pub use range::{RangeError, VersionRange};
pub use snupkg::{read_snupkg, Snupkg, SnupkgError};
pub use version::{NuGetVersion, VersionError};
