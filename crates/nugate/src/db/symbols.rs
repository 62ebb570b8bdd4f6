//! Symbol packages (`symbol_packages`, one per package version at most) and the portable PDBs they
//! hold (`symbol_files`), found by the SSQP key debuggers ask for.

use sqlx::{AnyConnection, AnyPool, Row};

/// A symbol package about to be recorded, inside the symbol push's transaction.
pub struct NewSymbolPackage<'a> {
    /// The `packages` row the symbols belong to.
    pub package_key: i64,
    /// Base64 SHA-512 of the `.snupkg`.
    pub package_hash: &'a str,
    pub package_size: i64,
    pub pushed_at: i64,
    pub pushed_by: i64,
}

/// One PDB of a symbol package.
pub struct NewSymbolFile<'a> {
    /// Its path inside the `.snupkg` (`lib/net8.0/Contoso.Lib.pdb`).
    pub entry_path: &'a str,
    /// Its file name as packed (`Contoso.Lib.pdb`).
    pub file_name: &'a str,
    /// The SSQP key: the PDB id's GUID and `ffffffff`, lower case.
    pub ssqp_key: &'a str,
    pub file_size: i64,
    /// Base64 SHA-512.
    pub file_hash: &'a str,
}

/// Records a symbol package; fails with a unique violation when the version has symbols already.
pub async fn insert_package(
    conn: &mut AnyConnection,
    package: &NewSymbolPackage<'_>,
) -> sqlx::Result<i64> {
    sqlx::query(
        "INSERT INTO symbol_packages (package_key, package_hash, package_size, pushed_at, pushed_by) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(package.package_key)
    .bind(package.package_hash)
    .bind(package.package_size)
    .bind(package.pushed_at)
    .bind(package.pushed_by)
    .fetch_one(&mut *conn)
    .await?
    .try_get("id")
}

/// Records one PDB of the symbol package `symbol_package_id`.
pub async fn insert_file(
    conn: &mut AnyConnection,
    symbol_package_id: i64,
    file: &NewSymbolFile<'_>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO symbol_files (symbol_package_id, entry_path, file_name, file_name_lower, ssqp_key, \
         file_size, file_hash) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(symbol_package_id)
    .bind(file.entry_path)
    .bind(file.file_name)
    .bind(file.file_name.to_lowercase())
    .bind(file.ssqp_key)
    .bind(file.file_size)
    .bind(file.file_hash)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Whether the package version `package_key` has symbols.
pub async fn exists_for(pool: &AnyPool, package_key: i64) -> sqlx::Result<bool> {
    Ok(
        sqlx::query("SELECT 1 FROM symbol_packages WHERE package_key = $1")
            .bind(package_key)
            .fetch_optional(pool)
            .await?
            .is_some(),
    )
}

/// Where a stored PDB lives: its version's folder and its own name and key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredPdb {
    pub lower_id: String,
    pub lower_version: String,
    pub file_name_lower: String,
    pub ssqp_key: String,
    pub file_size: i64,
    pub file_hash: String,
}

const PDB_COLUMNS: &str = "r.package_id_lower, p.version_lower, f.file_name_lower, f.ssqp_key, \
     f.file_size, f.file_hash";
const PDB_JOINS: &str = "FROM symbol_files f JOIN symbol_packages s ON s.id = f.symbol_package_id \
     JOIN packages p ON p.id = s.package_key JOIN package_registrations r ON r.id = p.registration_id";

fn pdb_from_row(row: &sqlx::any::AnyRow) -> sqlx::Result<StoredPdb> {
    Ok(StoredPdb {
        lower_id: row.try_get("package_id_lower")?,
        lower_version: row.try_get("version_lower")?,
        file_name_lower: row.try_get("file_name_lower")?,
        ssqp_key: row.try_get("ssqp_key")?,
        file_size: row.try_get("file_size")?,
        file_hash: row.try_get("file_hash")?,
    })
}

/// The PDB a debugger asks for by file name and SSQP key (both lower case); the most recently pushed
/// one when several packages ship the same PDB.
pub async fn find_pdb(
    pool: &AnyPool,
    file_name_lower: &str,
    ssqp_key: &str,
) -> sqlx::Result<Option<StoredPdb>> {
    let sql = format!(
        "SELECT {PDB_COLUMNS} {PDB_JOINS} WHERE f.file_name_lower = $1 AND f.ssqp_key = $2 \
         ORDER BY f.id DESC LIMIT 1"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(file_name_lower)
        .bind(ssqp_key)
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(pdb_from_row)
        .transpose()
}

/// The PDBs stored for the package version `package_key`.
pub async fn pdbs_of(pool: &AnyPool, package_key: i64) -> sqlx::Result<Vec<StoredPdb>> {
    let sql = format!("SELECT {PDB_COLUMNS} {PDB_JOINS} WHERE s.package_key = $1 ORDER BY f.id");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(package_key)
        .fetch_all(pool)
        .await?
        .iter()
        .map(pdb_from_row)
        .collect()
}

/// Every stored PDB, for backups and `nugate check`.
pub async fn all_pdbs(pool: &AnyPool) -> sqlx::Result<Vec<StoredPdb>> {
    let sql = format!("SELECT {PDB_COLUMNS} {PDB_JOINS} ORDER BY f.id");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(pool)
        .await?
        .iter()
        .map(pdb_from_row)
        .collect()
}

/// Every stored `.snupkg` with its recorded size and hash, for backups and checks.
pub async fn all_packages(pool: &AnyPool) -> sqlx::Result<Vec<super::packages::StoredFile>> {
    super::packages::stored_file_rows(
        pool,
        "SELECT r.package_id_lower, p.version_lower, s.package_size, s.package_hash \
         FROM symbol_packages s JOIN packages p ON p.id = s.package_key \
         JOIN package_registrations r ON r.id = p.registration_id ORDER BY s.id",
    )
    .await
}
