//! Symbol packages: the `.snupkg` clients push after a package (`SymbolPackagePublish/4.9.0`), and the
//! portable PDBs in it that debuggers fetch by their SSQP key.
//!
//! A symbol push is checked as NuGet.org checks one: a symbols package (see [`nuget_formats::snupkg`])
//! for a version that exists, pushed with a key that may push versions of that ID; each PDB portable,
//! beside a DLL or EXE of the same path in the package whose CodeView entry names that PDB's id. One
//! symbol package per version: a second push is a 409. The files are staged with no lock held, then
//! recorded and moved into place in one transaction, as a package push does.

use std::io::{BufReader, Seek, SeekFrom, Write};
use std::path::Path;

use nuget_formats::pdb::{read_codeview_entries, read_pdb_id};
use nuget_formats::snupkg::{binary_paths, file_name, read_snupkg, SnupkgError};
use nuget_formats::{NupkgLimits, PackageArchive};
use sha2::{Digest, Sha512};
use tempfile::NamedTempFile;

use super::upload::ExtractedPackage;
use super::{storage_error, PackageService};
use crate::audit::Event;
use crate::auth::keys::AuthenticatedKey;
use crate::db::{self, symbols::StoredPdb};
use crate::error::ApiError;
use crate::model::audit::AuditAction;
use crate::model::policy::Ownership;
use crate::model::scope::PackageAction;
use crate::storage::{Download, Staged};

/// A successful symbol push.
#[derive(Debug)]
pub struct PushedSymbols {
    pub id: String,
    pub version: String,
    /// The SSQP paths (`{name}/{key}/{name}`) the PDBs are now served at.
    pub files: Vec<String>,
}

/// A PDB taken out of a symbols package and checked against its binary.
struct CheckedPdb {
    entry_path: String,
    file_name: String,
    ssqp_key: String,
    file: NamedTempFile,
    size: u64,
    sha512: String,
}

/// What a symbol push decided before its transaction.
struct SymbolTarget<'a> {
    registration_id: i64,
    package_key: i64,
    id: &'a str,
    version: &'a str,
    lower_id: &'a str,
    lower_version: &'a str,
}

impl PackageService {
    /// Validates and stores a symbols package for an existing version on behalf of `key`, which needs the
    /// right to push a version of the ID (a `push-version` key suffices). `max_file_bytes` bounds every
    /// file read out of the packages.
    pub async fn push_symbols(
        &self,
        key: &AuthenticatedKey,
        package: ExtractedPackage,
        max_file_bytes: u64,
    ) -> Result<PushedSymbols, ApiError> {
        let path = package.file.path().to_path_buf();
        let identity = blocking(move || {
            let file =
                std::fs::File::open(&path).map_err(|e| ApiError::from_io("upload file", e))?;
            read_snupkg(BufReader::new(file), &NupkgLimits::default())
                .map(|s| s.identity)
                .map_err(|e| ApiError::BadRequest(e.to_string()))
        })
        .await?;
        let id = identity.id;
        let version = identity.version.normalized();
        let missing = || {
            ApiError::NotFound(format!(
                "A package with ID '{id}' and version '{version}' does not exist. Push the package before its symbols."
            ))
        };
        let registration = db::packages::registration(self.db.pool(), &id)
            .await?
            .ok_or_else(missing)?;
        let owns = {
            let mut conn = self.db.pool().acquire().await?;
            db::packages::is_owner(&mut conn, registration.id, key.acting_account()).await?
        };
        self.authorize(
            key,
            PackageAction::PushVersion,
            &registration.package_id,
            Ownership::Existing(owns),
            Event::new(AuditAction::SymbolsPush).package(&registration.package_id, Some(&version)),
        )?;
        let target = match self.find_version(&id, &version).await {
            Ok(target) => target,
            Err(ApiError::NotFound(_)) => return Err(missing()),
            Err(e) => return Err(e),
        };
        if db::symbols::exists_for(self.db.pool(), target.id).await? {
            return Err(already_pushed(&target.package_id, &target.version));
        }
        let lower_id = target.package_id.to_lowercase();
        let lower_version = target.version.to_lowercase();

        let nupkg = NamedTempFile::new_in(&self.tmp_dir)
            .map_err(|e| ApiError::from_io("cannot create a temporary file", e))?;
        self.storage
            .nupkg_to_file(&lower_id, &lower_version, nupkg.path())
            .await
            .map_err(|e| storage_error(&self.metrics, e))?;
        let (snupkg_path, nupkg_path, tmp_dir) = (
            package.file.path().to_path_buf(),
            nupkg.path().to_path_buf(),
            self.tmp_dir.clone(),
        );
        let checked =
            blocking(move || check_symbols(&snupkg_path, &nupkg_path, &tmp_dir, max_file_bytes))
                .await?;
        drop(nupkg);

        let staged_snupkg = self
            .storage
            .stage(package.file.path())
            .await
            .map_err(|e| storage_error(&self.metrics, e))?;
        let mut staged_pdbs = Vec::with_capacity(checked.len());
        for pdb in &checked {
            match self.storage.stage(pdb.file.path()).await {
                Ok(staged) => {
                    staged_pdbs.push((staged, pdb.ssqp_key.clone(), pdb.file_name.to_lowercase()))
                }
                Err(e) => {
                    self.discard(&staged_snupkg, &staged_pdbs).await;
                    return Err(storage_error(&self.metrics, e));
                }
            }
        }
        let recorded = self
            .record_symbols(
                key,
                &package,
                &checked,
                &staged_snupkg,
                &staged_pdbs,
                SymbolTarget {
                    registration_id: registration.id,
                    package_key: target.id,
                    id: &target.package_id,
                    version: &target.version,
                    lower_id: &lower_id,
                    lower_version: &lower_version,
                },
            )
            .await;
        if recorded.is_err() {
            self.discard(&staged_snupkg, &staged_pdbs).await;
        }
        recorded?;
        tracing::info!(
            id = %target.package_id,
            version = %target.version,
            pdbs = checked.len(),
            user = %key.user.username,
            "symbols pushed"
        );
        Ok(PushedSymbols {
            id: target.package_id.to_string(),
            version: target.version.into(),
            files: checked
                .iter()
                .map(|p| format!("{0}/{1}/{0}", p.file_name.to_lowercase(), p.ssqp_key))
                .collect(),
        })
    }

    /// The transactional half of [`PackageService::push_symbols`]: re-checks the key against ownership
    /// read in the transaction, records the rows (the unique index makes a concurrent second push a
    /// 409), moves the staged files into place, and commits.
    async fn record_symbols(
        &self,
        key: &AuthenticatedKey,
        package: &ExtractedPackage,
        checked: &[CheckedPdb],
        staged_snupkg: &Staged,
        staged_pdbs: &[(Staged, String, String)],
        target: SymbolTarget<'_>,
    ) -> Result<(), ApiError> {
        let mut tx = self.db.begin_write().await?;
        let owns =
            db::packages::is_owner(&mut tx, target.registration_id, key.acting_account()).await?;
        let pushed = Event::new(AuditAction::SymbolsPush).package(target.id, Some(target.version));
        self.authorize(
            key,
            PackageAction::PushVersion,
            target.id,
            Ownership::Existing(owns),
            pushed.clone(),
        )?;
        let inserted = db::symbols::insert_package(
            &mut tx,
            &db::symbols::NewSymbolPackage {
                package_key: target.package_key,
                package_hash: &package.sha512_base64,
                package_size: i64::try_from(package.size).unwrap_or(i64::MAX),
                pushed_at: db::now(),
                pushed_by: key.user.id,
            },
        )
        .await;
        let symbol_package = match inserted {
            Ok(row) => row,
            Err(e) if db::is_unique_violation(&e) => {
                return Err(already_pushed(target.id, target.version))
            }
            Err(e) => return Err(e.into()),
        };
        for pdb in checked {
            db::symbols::insert_file(
                &mut tx,
                symbol_package,
                &db::symbols::NewSymbolFile {
                    entry_path: &pdb.entry_path,
                    file_name: &pdb.file_name,
                    ssqp_key: &pdb.ssqp_key,
                    file_size: i64::try_from(pdb.size).unwrap_or(i64::MAX),
                    file_hash: &pdb.sha512,
                },
            )
            .await?;
        }
        let names: Vec<(String, String)> = staged_pdbs
            .iter()
            .map(|(_, key, name)| (key.clone(), name.clone()))
            .collect();
        if let Err(e) = self
            .storage
            .publish_symbols(
                staged_snupkg,
                staged_pdbs,
                target.lower_id,
                target.lower_version,
            )
            .await
        {
            self.storage
                .delete_symbols(target.lower_id, target.lower_version, &names)
                .await;
            return Err(storage_error(&self.metrics, e));
        }
        if let Err(e) = tx.commit().await {
            // As for a package push: the files go only once the database says the rows are absent.
            return match db::symbols::exists_for(self.db.pool(), target.package_key).await {
                Ok(true) => {
                    self.audit
                        .record(pushed.with_key(&key.user, &key.key))
                        .await;
                    Ok(())
                }
                Ok(false) => {
                    self.storage
                        .delete_symbols(target.lower_id, target.lower_version, &names)
                        .await;
                    Err(e.into())
                }
                Err(_) => Err(e.into()),
            };
        }
        self.audit
            .record(pushed.with_key(&key.user, &key.key))
            .await;
        Ok(())
    }

    async fn discard(&self, snupkg: &Staged, pdbs: &[(Staged, String, String)]) {
        self.storage.discard(snupkg).await;
        for (staged, _, _) in pdbs {
            self.storage.discard(staged).await;
        }
    }

    /// Whether the package version `package_key` (a `packages` row id) has symbols.
    pub async fn has_symbols(&self, package_key: i64) -> Result<bool, ApiError> {
        Ok(db::symbols::exists_for(self.db.pool(), package_key).await?)
    }

    /// Opens the PDB a debugger asks for at `{name}/{key}/{name_again}` (SSQP, any case); 404 when no
    /// pushed symbols hold it.
    pub async fn symbol_file(
        &self,
        name: &str,
        key: &str,
        name_again: &str,
    ) -> Result<(StoredPdb, Download), ApiError> {
        let not_found = || {
            ApiError::NotFound(format!(
                "No symbols for '{}' with key '{}' were pushed to this server.",
                clip(name),
                clip(key)
            ))
        };
        let name_lower = name.to_lowercase();
        let key_lower = key.to_lowercase();
        let plausible = name_lower == name_again.to_lowercase()
            && name_lower.ends_with(".pdb")
            && !key_lower.is_empty()
            && key_lower.len() <= 64
            && key_lower.bytes().all(|b| b.is_ascii_hexdigit());
        if !plausible {
            return Err(not_found());
        }
        let stored = db::symbols::find_pdb(self.db.pool(), &name_lower, &key_lower)
            .await?
            .ok_or_else(not_found)?;
        let download = self
            .storage
            .pdb(
                &stored.lower_id,
                &stored.lower_version,
                &stored.ssqp_key,
                &stored.file_name_lower,
            )
            .await
            .map_err(|e| storage_error(&self.metrics, e))?;
        Ok((stored, download))
    }
}

/// Text from a request for a message: at most 100 characters, control characters escaped.
fn clip(text: &str) -> String {
    text.chars()
        .take(100)
        .collect::<String>()
        .escape_debug()
        .to_string()
}

fn already_pushed(id: &str, version: &str) -> ApiError {
    ApiError::Conflict(format!(
        "Symbols for package '{id}' version '{version}' were already pushed and cannot be modified."
    ))
}

/// Runs blocking work (zip reading, hashing) on the blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::Internal(e.into()))?
}

/// Writes through to a file while hashing.
struct Hashing<'a> {
    out: &'a mut std::fs::File,
    hasher: Sha512,
}

impl Write for Hashing<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// Reads every PDB out of the symbols package at `snupkg`, checks it is portable and that the binary at
/// its path in the package at `nupkg` names its id, and returns them in temporary files (one per PDB
/// id and name: the same PDB packed twice is kept once). Blocking.
fn check_symbols(
    snupkg: &Path,
    nupkg: &Path,
    tmp_dir: &Path,
    max_file_bytes: u64,
) -> Result<Vec<CheckedPdb>, ApiError> {
    let io = |e: std::io::Error| ApiError::from_io("symbol package file", e);
    let bad = |e: SnupkgError| ApiError::BadRequest(e.to_string());
    let limits = NupkgLimits::default();
    let mut symbols = read_snupkg(
        BufReader::new(std::fs::File::open(snupkg).map_err(io)?),
        &limits,
    )
    .map_err(bad)?;
    // The stored package passed these checks when it was pushed; failing now is the server's problem.
    let mut package = PackageArchive::open(
        BufReader::new(std::fs::File::open(nupkg).map_err(io)?),
        limits.max_entries,
    )
    .map_err(|e| ApiError::Internal(anyhow::anyhow!("the stored package does not open: {e}")))?;
    // What all PDBs may add up to once decompressed, so a zip bomb costs bounded disk.
    let mut budget = max_file_bytes.saturating_mul(2);
    let mut checked: Vec<CheckedPdb> = Vec::new();
    for index in symbols.pdbs.clone() {
        let entry = symbols.archive.entries()[index].clone();
        let [dll, exe] = binary_paths(&entry);
        let binary = package
            .find(&dll)
            .or_else(|| package.find(&exe))
            .ok_or_else(|| {
                bad(SnupkgError::NoMatchingBinary {
                    pdb: entry.clone(),
                    dll: dll.clone(),
                    exe: exe.clone(),
                })
            })?;
        let binary_entry = package.entries()[binary].clone();

        let mut pdb_file = NamedTempFile::new_in(tmp_dir).map_err(io)?;
        let mut hashing = Hashing {
            out: pdb_file.as_file_mut(),
            hasher: Sha512::new(),
        };
        let limit = max_file_bytes.min(budget);
        let size = symbols
            .archive
            .copy_entry(index, &mut hashing, limit)
            .map_err(|e| bad(e.into()))?
            .ok_or_else(|| {
                bad(SnupkgError::FileTooLarge {
                    name: entry.clone(),
                    limit,
                })
            })?;
        let sha512 = data_encoding::BASE64.encode(&hashing.hasher.finalize());
        budget -= size;
        pdb_file.as_file_mut().flush().map_err(io)?;
        pdb_file
            .as_file_mut()
            .seek(SeekFrom::Start(0))
            .map_err(io)?;
        let id = read_pdb_id(BufReader::new(pdb_file.as_file_mut())).map_err(|error| {
            bad(SnupkgError::InvalidPdb {
                name: entry.clone(),
                error,
            })
        })?;

        let mut binary_file = tempfile::tempfile_in(tmp_dir).map_err(io)?;
        package
            .copy_entry(binary, &mut binary_file, max_file_bytes)
            .map_err(|e| bad(e.into()))?
            .ok_or_else(|| {
                bad(SnupkgError::FileTooLarge {
                    name: binary_entry.clone(),
                    limit: max_file_bytes,
                })
            })?;
        binary_file.seek(SeekFrom::Start(0)).map_err(io)?;
        let names_this_pdb = read_codeview_entries(BufReader::new(binary_file))
            .map(|entries| entries.iter().any(|e| e.matches(&id)))
            .unwrap_or(false);
        if !names_this_pdb {
            return Err(bad(SnupkgError::MismatchedBinary {
                pdb: entry,
                binary: binary_entry,
            }));
        }
        let name = file_name(&entry).to_string();
        let ssqp_key = id.ssqp_key();
        if checked
            .iter()
            .any(|c| c.ssqp_key == ssqp_key && c.file_name.eq_ignore_ascii_case(&name))
        {
            continue;
        }
        checked.push(CheckedPdb {
            entry_path: entry,
            file_name: name,
            ssqp_key,
            file: pdb_file,
            size,
            sha512,
        });
    }
    Ok(checked)
}
