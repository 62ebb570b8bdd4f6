//! Package registrations (one per ID), their owners, and package versions.

use futures_util::TryStreamExt;
use std::sync::Arc;

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool, Row};

use super::flag;

/// One package ID, with the casing of its first push.
#[derive(Clone, Debug)]
pub struct Registration {
    pub id: i64,
    pub package_id: String,
    /// The upstream feed its versions were cached from; `None` for the feed's own packages.
    pub upstream: Option<String>,
}

/// One published version, with the columns the protocol endpoints need.
#[derive(Clone, Debug)]
///
/// The ID and the texts versions of one ID usually repeat are shared: the in-memory feed holds every
/// version, and a mirror has a million of them ([`PackageVersion::share_texts_with`]).
pub struct PackageVersion {
    pub id: i64,
    pub registration_id: i64,
    pub package_id: Arc<str>,
    /// The normalised version (a boxed `str`: a million of them are held in memory).
    pub version: Box<str>,
    /// The version with its SemVer 2 build metadata, only when it has some (`None` is `version`): a
    /// mirror holds a million rows, and nearly every one's full version is its version.
    pub full_version: Option<Box<str>>,
    pub is_prerelease: bool,
    pub is_semver2: bool,
    pub listed: bool,
    pub texts: Arc<VersionTexts>,
    pub package_hash: PackageHash,
    pub package_size: i64,
    pub published_at: i64,
    /// Downloads counted so far (flushed from every node's memory in batches).
    pub downloads: i64,
}

const VERSION_COLUMNS: &str = "p.id, p.registration_id, r.package_id, p.version, p.full_version, \
     p.is_prerelease, p.is_semver2, p.listed, p.title, p.description, p.summary, p.authors, p.tags, \
     p.package_types, p.package_hash, p.package_size, p.published_at, p.downloads";

/// A version's SHA-512 (`packageHash`), held as its 64 bytes rather than 88 characters of base64: the
/// in-memory feed keeps one per version. Written back out as the base64 it was stored as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PackageHash {
    Sha512([u8; 64]),
    /// A stored value that is not the base64 of 64 bytes (kept as it is).
    Other(Box<str>),
}

impl PackageHash {
    fn from_stored(text: String) -> PackageHash {
        let mut bytes = [0u8; 64];
        match data_encoding::BASE64.decode(text.as_bytes()) {
            Ok(decoded) if decoded.len() == 64 => {
                bytes.copy_from_slice(&decoded);
                PackageHash::Sha512(bytes)
            }
            _ => PackageHash::Other(text.into_boxed_str()),
        }
    }
}

impl std::fmt::Display for PackageHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PackageHash::Sha512(bytes) => f.write_str(&data_encoding::BASE64.encode(bytes)),
            PackageHash::Other(text) => f.write_str(text),
        }
    }
}

impl serde::Serialize for PackageHash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// What a version's .nuspec says about it in words: searched, and shown in results and feeds.
#[derive(Debug, PartialEq, Eq)]
pub struct VersionTexts {
    pub title: Option<String>,
    pub description: String,
    pub summary: Option<String>,
    pub authors: String,
    pub tags: String,
    /// Package types, space separated.
    pub package_types: String,
}

impl PackageVersion {
    /// The version with its build metadata (`1.0.0+abc`), as SemVer 2 clients are shown it.
    pub fn full_version(&self) -> &str {
        self.full_version.as_deref().unwrap_or(&self.version)
    }

    /// Shares `other`'s ID and texts where they are equal, so the versions of one ID hold them once.
    pub fn share_texts_with(&mut self, other: &PackageVersion) {
        if !Arc::ptr_eq(&self.package_id, &other.package_id) && self.package_id == other.package_id
        {
            self.package_id = Arc::clone(&other.package_id);
        }
        if !Arc::ptr_eq(&self.texts, &other.texts) && self.texts == other.texts {
            self.texts = Arc::clone(&other.texts);
        }
    }
}

fn version_from_row(row: &AnyRow) -> sqlx::Result<PackageVersion> {
    let version: String = row.try_get("version")?;
    Ok(PackageVersion {
        id: row.try_get("id")?,
        registration_id: row.try_get("registration_id")?,
        package_id: Arc::from(row.try_get::<String, _>("package_id")?),
        full_version: {
            let full: String = row.try_get("full_version")?;
            (full != version).then(|| full.into_boxed_str())
        },
        version: version.into_boxed_str(),
        is_prerelease: flag(row.try_get("is_prerelease")?),
        is_semver2: flag(row.try_get("is_semver2")?),
        listed: flag(row.try_get("listed")?),
        texts: Arc::new(VersionTexts {
            title: row.try_get("title")?,
            description: row.try_get("description")?,
            summary: row.try_get("summary")?,
            authors: row.try_get("authors")?,
            tags: row.try_get("tags")?,
            package_types: row.try_get("package_types")?,
        }),
        package_hash: PackageHash::from_stored(row.try_get("package_hash")?),
        package_size: row.try_get("package_size")?,
        published_at: row.try_get("published_at")?,
        downloads: row.try_get("downloads")?,
    })
}

/// Looks up an ID case-insensitively.
pub async fn registration(pool: &AnyPool, id: &str) -> sqlx::Result<Option<Registration>> {
    let row = sqlx::query(
        "SELECT id, package_id, upstream FROM package_registrations WHERE package_id_lower = $1",
    )
    .bind(id.to_lowercase())
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(registration_from_row).transpose()
}

fn registration_from_row(r: &AnyRow) -> sqlx::Result<Registration> {
    Ok(Registration {
        id: r.try_get("id")?,
        package_id: r.try_get("package_id")?,
        upstream: r.try_get("upstream")?,
    })
}

/// Creates the registration if missing, inside the push transaction; reports whether this call created it.
/// A new registration is the feed's own (`upstream` `None`) or a cache of `upstream`'s packages.
pub async fn ensure_registration(
    conn: &mut AnyConnection,
    id: &str,
    now: i64,
    upstream: Option<&str>,
) -> sqlx::Result<(Registration, bool)> {
    let inserted = sqlx::query(
        "INSERT INTO package_registrations (package_id, package_id_lower, created_at, upstream) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (package_id_lower) DO NOTHING",
    )
    .bind(id)
    .bind(id.to_lowercase())
    .bind(now)
    .bind(upstream)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    let row = sqlx::query(
        "SELECT id, package_id, upstream FROM package_registrations WHERE package_id_lower = $1",
    )
    .bind(id.to_lowercase())
    .fetch_one(&mut *conn)
    .await?;
    Ok((registration_from_row(&row)?, inserted))
}

/// Makes a registration cached from upstream the feed's own (a first push once its cached versions
/// are gone), with the casing of that push.
pub async fn claim_registration(
    conn: &mut AnyConnection,
    registration_id: i64,
    id: &str,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE package_registrations SET upstream = NULL, package_id = $1 WHERE id = $2")
        .bind(id)
        .bind(registration_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// How many versions a registration has.
pub async fn version_count(conn: &mut AnyConnection, registration_id: i64) -> sqlx::Result<i64> {
    sqlx::query("SELECT COUNT(*) AS n FROM packages WHERE registration_id = $1")
        .bind(registration_id)
        .fetch_one(&mut *conn)
        .await?
        .try_get("n")
}

/// Whether `user_id` owns the registration, read in the caller's transaction (pushes).
pub async fn is_owner(
    conn: &mut AnyConnection,
    registration_id: i64,
    user_id: i64,
) -> sqlx::Result<bool> {
    let row =
        sqlx::query("SELECT 1 FROM package_owners WHERE registration_id = $1 AND user_id = $2")
            .bind(registration_id)
            .bind(user_id)
            .fetch_optional(&mut *conn)
            .await?;
    Ok(row.is_some())
}

/// Adds an owner; adding an existing owner is a no-op.
pub async fn add_owner(
    conn: &mut AnyConnection,
    registration_id: i64,
    user_id: i64,
    now: i64,
) -> sqlx::Result<bool> {
    Ok(sqlx::query(
        "INSERT INTO package_owners (registration_id, user_id, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (registration_id, user_id) DO NOTHING",
    )
    .bind(registration_id)
    .bind(user_id)
    .bind(now)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1)
}

/// Removes an owner unless it is the last one. Returns `Ok(false)` when refused for that reason.
pub async fn remove_owner(
    conn: &mut AnyConnection,
    registration_id: i64,
    user_id: i64,
) -> sqlx::Result<RemoveOwner> {
    let owners = owner_ids(conn, registration_id).await?;
    if !owners.contains(&user_id) {
        return Ok(RemoveOwner::NotAnOwner);
    }
    if owners.len() == 1 {
        return Ok(RemoveOwner::LastOwner);
    }
    sqlx::query("DELETE FROM package_owners WHERE registration_id = $1 AND user_id = $2")
        .bind(registration_id)
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    Ok(RemoveOwner::Removed)
}

/// Outcome of [`remove_owner`].
#[derive(Debug, PartialEq, Eq)]
pub enum RemoveOwner {
    Removed,
    NotAnOwner,
    LastOwner,
}

/// The account ids owning the registration.
pub async fn owner_ids(conn: &mut AnyConnection, registration_id: i64) -> sqlx::Result<Vec<i64>> {
    sqlx::query("SELECT user_id FROM package_owners WHERE registration_id = $1")
        .bind(registration_id)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| r.try_get("user_id"))
        .collect()
}

/// Usernames owning a registration, sorted.
pub async fn owner_names(pool: &AnyPool, registration_id: i64) -> sqlx::Result<Vec<String>> {
    sqlx::query(
        "SELECT u.username FROM package_owners o JOIN users u ON u.id = o.user_id \
         WHERE o.registration_id = $1 ORDER BY u.username_lower",
    )
    .bind(registration_id)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| r.try_get("username"))
    .collect()
}

/// IDs owned by a user, sorted case-insensitively.
pub async fn owned_ids(pool: &AnyPool, user_id: i64) -> sqlx::Result<Vec<String>> {
    sqlx::query(
        "SELECT r.package_id FROM package_owners o JOIN package_registrations r ON r.id = o.registration_id \
         WHERE o.user_id = $1 ORDER BY r.package_id_lower",
    )
    .bind(user_id)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| r.try_get("package_id"))
    .collect()
}

/// All registrations with their owners, for `nugate package list`.
pub async fn list_registrations(pool: &AnyPool) -> sqlx::Result<Vec<Registration>> {
    sqlx::query(
        "SELECT id, package_id, upstream FROM package_registrations ORDER BY package_id_lower",
    )
    .fetch_all(pool)
    .await?
    .iter()
    .map(registration_from_row)
    .collect()
}

/// A version row to insert at push time.
pub struct NewPackageVersion<'a> {
    pub registration_id: i64,
    pub version: &'a str,
    pub full_version: &'a str,
    pub is_prerelease: bool,
    pub is_semver2: bool,
    pub title: Option<&'a str>,
    pub description: &'a str,
    pub summary: Option<&'a str>,
    pub authors: &'a str,
    pub tags: &'a str,
    pub package_types: &'a str,
    pub metadata_json: &'a str,
    pub package_hash: &'a str,
    pub package_size: i64,
    pub published_at: i64,
    /// `None` for a version cached from upstream.
    pub pushed_by: Option<i64>,
    /// Unlisted on arrival: a cached upstream version its upstream has unlisted.
    pub listed: bool,
    /// [`dependency_ids_text`] of the version's dependencies.
    pub dependency_ids: &'a str,
}

/// The stored form of the IDs a version depends on: lower-cased, each between spaces.
pub fn dependency_ids_text<'a>(ids: impl Iterator<Item = &'a str>) -> String {
    let mut ids: Vec<String> = ids.map(str::to_lowercase).collect();
    ids.sort();
    ids.dedup();
    format!(" {} ", ids.join(" "))
}

/// Versions stored before `dependency_ids` existed: (row, stored .nuspec JSON), a batch at a time.
pub async fn without_dependency_ids(
    pool: &AnyPool,
    limit: i64,
) -> sqlx::Result<Vec<(i64, String)>> {
    sqlx::query("SELECT id, metadata_json FROM packages WHERE dependency_ids IS NULL LIMIT $1")
        .bind(limit)
        .fetch_all(pool)
        .await?
        .iter()
        .map(|row| Ok((row.try_get("id")?, row.try_get("metadata_json")?)))
        .collect()
}

/// Sets a version's `dependency_ids`.
pub async fn set_dependency_ids(pool: &AnyPool, id: i64, ids: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE packages SET dependency_ids = $1 WHERE id = $2")
        .bind(ids)
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}

/// IDs of packages with a listed version that depends on `id`, by name, at most `limit`.
pub async fn dependents(pool: &AnyPool, id: &str, limit: i64) -> sqlx::Result<Vec<String>> {
    let escaped = id
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    sqlx::query(
        "SELECT DISTINCT r.package_id, r.package_id_lower FROM packages p \
         JOIN package_registrations r ON r.id = p.registration_id \
         WHERE p.listed = 1 AND p.dependency_ids LIKE $1 ESCAPE '\\' ORDER BY r.package_id_lower LIMIT $2",
    )
    .bind(format!("% {escaped} %"))
    .bind(limit)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|row| row.try_get("package_id"))
    .collect()
}

/// Inserts a version; the unique (registration, version) index turns a duplicate into a unique violation.
pub async fn insert_version(
    conn: &mut AnyConnection,
    v: &NewPackageVersion<'_>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO packages (registration_id, version, version_lower, full_version, is_prerelease, \
         is_semver2, listed, title, description, summary, authors, tags, package_types, metadata_json, \
         package_hash, package_size, published_at, pushed_by, dependency_ids) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)",
    )
    .bind(v.registration_id)
    .bind(v.version)
    .bind(v.version.to_lowercase())
    .bind(v.full_version)
    .bind(i64::from(v.is_prerelease))
    .bind(i64::from(v.is_semver2))
    .bind(i64::from(v.listed))
    .bind(v.title)
    .bind(v.description)
    .bind(v.summary)
    .bind(v.authors)
    .bind(v.tags)
    .bind(v.package_types)
    .bind(v.metadata_json)
    .bind(v.package_hash)
    .bind(v.package_size)
    .bind(v.published_at)
    .bind(v.pushed_by)
    .bind(v.dependency_ids)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Every version of an ID (listed and unlisted), in insertion order.
pub async fn versions_of(pool: &AnyPool, id: &str) -> sqlx::Result<Vec<PackageVersion>> {
    let sql = format!(
        "SELECT {VERSION_COLUMNS} FROM packages p JOIN package_registrations r ON r.id = p.registration_id \
         WHERE r.package_id_lower = $1 ORDER BY p.id"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.to_lowercase())
        .fetch_all(pool)
        .await?
        .iter()
        .map(version_from_row)
        .collect()
}

/// One version by ID and normalised version, both case-insensitive.
pub async fn version(
    pool: &AnyPool,
    id: &str,
    normalized_version: &str,
) -> sqlx::Result<Option<PackageVersion>> {
    let sql = format!(
        "SELECT {VERSION_COLUMNS} FROM packages p JOIN package_registrations r ON r.id = p.registration_id \
         WHERE r.package_id_lower = $1 AND p.version_lower = $2"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id.to_lowercase())
        .bind(normalized_version.to_lowercase())
        .fetch_optional(pool)
        .await?
        .as_ref()
        .map(version_from_row)
        .transpose()
}

/// Sets the listed flag of one version row.
pub async fn set_listed(
    conn: &mut AnyConnection,
    package_row_id: i64,
    listed: bool,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE packages SET listed = $1 WHERE id = $2")
        .bind(i64::from(listed))
        .bind(package_row_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// (lower id, lower version) of every stored version, for orphan detection in storage.
pub async fn all_version_keys(pool: &AnyPool) -> sqlx::Result<Vec<(String, String)>> {
    sqlx::query(
        "SELECT r.package_id_lower, p.version_lower FROM packages p \
         JOIN package_registrations r ON r.id = p.registration_id",
    )
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| Ok((r.try_get("package_id_lower")?, r.try_get("version_lower")?)))
    .collect()
}

/// Records, inside the writer's transaction, that `registration_id` changed in a way readers see.
///
/// The counter row is updated last so its lock is held only until commit; while held, no other change can
/// take the next number, so changes become visible in counter order and a reader that has seen counter
/// value N has seen every change numbered N or lower.
pub async fn mark_changed(conn: &mut AnyConnection, registration_id: i64) -> sqlx::Result<()> {
    let seq: i64 = sqlx::query("UPDATE feed_changes SET seq = seq + 1 WHERE id = 1 RETURNING seq")
        .fetch_one(&mut *conn)
        .await?
        .try_get("seq")?;
    sqlx::query("UPDATE package_registrations SET changed_seq = $1 WHERE id = $2")
        .bind(seq)
        .bind(registration_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Adds `count` downloads to a version.
pub async fn add_downloads(
    conn: &mut AnyConnection,
    version_id: i64,
    count: i64,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE packages SET downloads = downloads + $1 WHERE id = $2")
        .bind(count)
        .bind(version_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The change counter: one indexed single-row read, cheap enough to ask before serving from memory.
pub async fn change_seq(pool: &AnyPool) -> sqlx::Result<i64> {
    sqlx::query("SELECT seq FROM feed_changes WHERE id = 1")
        .fetch_one(pool)
        .await?
        .try_get("seq")
}

/// Version rows without the stored .nuspec JSON, with their registration's change stamp: all of them, or
/// those of registrations changed after `since`. The in-memory feed index is built from these.
/// A version as the in-memory feed loads it: with its registration's change stamp and origin.
pub struct IndexRow {
    pub changed_seq: i64,
    /// The upstream the registration was cached from (`None`: the feed's own).
    pub upstream: Option<String>,
    pub version: PackageVersion,
}

pub async fn index_rows(pool: &AnyPool, since: Option<i64>) -> sqlx::Result<Vec<IndexRow>> {
    index_rows_of_slice(pool, IndexSlice::ChangedSince(since.unwrap_or(-1))).await
}

/// Which registrations' rows [`index_rows_of_slice`] reads.
#[derive(Clone, Copy, Debug)]
pub enum IndexSlice {
    /// Those changed after a counter value (what [`index_rows`] reads).
    ChangedSince(i64),
    /// Ids in `from..to`: the first load of a large feed reads it in such slices, so it never holds
    /// every row at once besides the index it builds.
    Ids { from: i64, to: i64 },
    /// One registration: what a read is answered from before the first load is done.
    One(i64),
}

/// The largest registration id (0 for none).
pub async fn max_registration_id(pool: &AnyPool) -> sqlx::Result<i64> {
    sqlx::query("SELECT COALESCE(MAX(id), 0) AS top FROM package_registrations")
        .fetch_one(pool)
        .await?
        .try_get("top")
}

/// [`index_rows`] of a slice of the registrations.
pub async fn index_rows_of_slice(pool: &AnyPool, slice: IndexSlice) -> sqlx::Result<Vec<IndexRow>> {
    let condition = match slice {
        IndexSlice::ChangedSince(_) => "r.changed_seq > $1",
        IndexSlice::Ids { .. } => "r.id >= $1 AND r.id < $2",
        IndexSlice::One(_) => "r.id = $1",
    };
    let sql = format!(
        "SELECT {VERSION_COLUMNS}, r.changed_seq, r.upstream FROM packages p \
         JOIN package_registrations r ON r.id = p.registration_id WHERE {condition}"
    );
    let query = sqlx::query(sqlx::AssertSqlSafe(sql));
    let query = match slice {
        IndexSlice::ChangedSince(since) => query.bind(since),
        IndexSlice::Ids { from, to } => query.bind(from).bind(to),
        IndexSlice::One(id) => query.bind(id),
    };
    // Streamed, so a slice's raw rows are never all held beside the rows made from them.
    let mut rows = Vec::new();
    let mut stream = query.fetch(pool);
    while let Some(row) = stream.try_next().await? {
        rows.push(IndexRow {
            changed_seq: row.try_get("changed_seq")?,
            upstream: row.try_get("upstream")?,
            version: version_from_row(&row)?,
        });
    }
    Ok(rows)
}

/// (registration, owner name) pairs of registrations changed after `since` (all when `None`).
pub async fn index_owners(pool: &AnyPool, since: Option<i64>) -> sqlx::Result<Vec<(i64, String)>> {
    sqlx::query(
        "SELECT o.registration_id, u.username FROM package_owners o JOIN users u ON u.id = o.user_id \
         JOIN package_registrations r ON r.id = o.registration_id WHERE r.changed_seq > $1 \
         ORDER BY u.username_lower",
    )
    .bind(since.unwrap_or(-1))
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| Ok((r.try_get("registration_id")?, r.try_get("username")?)))
    .collect()
}

/// The stored .nuspec JSON of a few version rows (a page of search results), by row id.
pub async fn metadata_of(
    pool: &AnyPool,
    row_ids: &[i64],
) -> sqlx::Result<std::collections::HashMap<i64, String>> {
    if row_ids.is_empty() {
        return Ok(Default::default());
    }
    let placeholders: Vec<String> = (1..=row_ids.len()).map(|i| format!("${i}")).collect();
    let sql = format!(
        "SELECT id, metadata_json FROM packages WHERE id IN ({})",
        placeholders.join(", ")
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for id in row_ids {
        query = query.bind(*id);
    }
    query
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| Ok((r.try_get("id")?, r.try_get("metadata_json")?)))
        .collect()
}

/// Every registration's owners as (registration id, username) pairs, by username: one query for pages
/// and commands that list many packages.
pub async fn all_owner_names(pool: &AnyPool) -> sqlx::Result<Vec<(i64, String)>> {
    sqlx::query(
        "SELECT o.registration_id, u.username FROM package_owners o JOIN users u ON u.id = o.user_id \
         ORDER BY u.username_lower",
    )
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| Ok((r.try_get("registration_id")?, r.try_get("username")?)))
    .collect()
}

/// Every version as (registration id, version, listed), in push order: one query for the admin page.
pub async fn all_version_listings(pool: &AnyPool) -> sqlx::Result<Vec<(i64, String, bool)>> {
    sqlx::query("SELECT registration_id, version, listed FROM packages ORDER BY id")
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| {
            Ok((
                r.try_get("registration_id")?,
                r.try_get("version")?,
                flag(r.try_get("listed")?),
            ))
        })
        .collect()
}

/// Deletes one version row for good, inside the caller's transaction (`nugate package delete`); the
/// registration and its owners stay. Returns whether the row still existed.
pub async fn delete_version(conn: &mut AnyConnection, package_row_id: i64) -> sqlx::Result<bool> {
    Ok(sqlx::query("DELETE FROM packages WHERE id = $1")
        .bind(package_row_id)
        .execute(&mut *conn)
        .await?
        .rows_affected()
        == 1)
}

/// Lower-case IDs of registrations changed after `since` that have no version left (their last one was
/// deleted): [`index_rows`] returns nothing for them, so the in-memory feed must drop them by this list.
pub async fn emptied_registrations(pool: &AnyPool, since: i64) -> sqlx::Result<Vec<String>> {
    sqlx::query(
        "SELECT r.package_id_lower FROM package_registrations r WHERE r.changed_seq > $1 \
         AND NOT EXISTS (SELECT 1 FROM packages p WHERE p.registration_id = r.id)",
    )
    .bind(since)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| r.try_get("package_id_lower"))
    .collect()
}

/// How `user_id` relates to a registration's owners: whether they own it themselves, and the roles
/// they hold in organisations that own it (empty for neither).
pub async fn management_of(
    pool: &AnyPool,
    registration_id: i64,
    user_id: i64,
) -> sqlx::Result<(bool, Vec<crate::model::account::OrgRole>)> {
    let rows = sqlx::query(
        "SELECT o.user_id AS owner_id, m.role AS member_role FROM package_owners o \
         LEFT JOIN org_members m ON m.org_id = o.user_id AND m.user_id = $2 \
         WHERE o.registration_id = $1 AND (o.user_id = $2 OR m.user_id IS NOT NULL)",
    )
    .bind(registration_id)
    .bind(user_id)
    .fetch_all(pool)
    .await?;
    let mut direct = false;
    let mut roles = Vec::new();
    for row in rows {
        let owner: i64 = row.try_get("owner_id")?;
        direct |= owner == user_id;
        if let Some(role) = row.try_get("member_role")? {
            roles.push(role);
        }
    }
    Ok((direct, roles))
}

/// A stored package file as (lower ID, lower version, size, base64 SHA-512): what backups and `nugate
/// check` compare against storage.
pub type StoredFile = (String, String, i64, String);

/// Every version's .nupkg with its recorded size and hash, for backups and `nugate check`.
pub async fn stored_files(pool: &AnyPool) -> sqlx::Result<Vec<StoredFile>> {
    stored_file_rows(
        pool,
        "SELECT r.package_id_lower, p.version_lower, p.package_size, p.package_hash FROM packages p \
         JOIN package_registrations r ON r.id = p.registration_id ORDER BY r.package_id_lower, p.version_lower",
    )
    .await
}

/// Runs `sql`, which selects `package_id_lower`, `version_lower`, `package_size` and `package_hash`.
pub(super) async fn stored_file_rows(
    pool: &AnyPool,
    sql: &'static str,
) -> sqlx::Result<Vec<StoredFile>> {
    sqlx::query(sql)
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| {
            Ok((
                r.try_get("package_id_lower")?,
                r.try_get("version_lower")?,
                r.try_get("package_size")?,
                r.try_get("package_hash")?,
            ))
        })
        .collect()
}
