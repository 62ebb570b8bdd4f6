//! Browser sessions and sign-in throttling, all in the database so any node can serve any request.
//!
//! The cookie holds a random 256-bit identifier; only its SHA-256 is stored, so a leaked database does not
//! yield live sessions. Each session carries its own CSRF token.

use crate::db::{self, users::User, Db};
use crate::tokens::{hash_token, random_token};

/// Sessions end after this long without a request.
pub const IDLE_TIMEOUT_SECS: i64 = 12 * 3600;
/// Sessions end this long after sign-in whatever happens.
pub const ABSOLUTE_TIMEOUT_SECS: i64 = 14 * 86_400;
/// A just-created key waits in its session at most this long for the page that shows it.
const NEW_KEY_SECS: i64 = 120;
/// `last_seen_at` is written at most this often.
const TOUCH_INTERVAL_SECS: i64 = 60;

/// A live session and its user.
#[derive(Clone, Debug)]
pub struct Session {
    pub id_hash: String,
    pub csrf_token: String,
    pub user: User,
}

/// The session store.
#[derive(Clone)]
pub struct SessionService {
    db: Db,
}

impl SessionService {
    /// Wraps the database.
    pub fn new(db: Db) -> SessionService {
        SessionService { db }
    }

    /// Starts a new session (always a fresh id: no fixation) and returns the cookie value.
    pub async fn create(&self, user: &User) -> sqlx::Result<String> {
        let token = random_token();
        db::sessions::insert(
            self.db.pool(),
            &hash_token(&token),
            user.id,
            &random_token(),
            db::now(),
        )
        .await?;
        Ok(token)
    }

    /// Loads the session behind a cookie value, enforcing idle and absolute timeouts.
    pub async fn load(&self, cookie: &str) -> sqlx::Result<Option<Session>> {
        let id_hash = hash_token(cookie);
        let pool = self.db.pool();
        let Some(row) = db::sessions::by_hash(pool, &id_hash).await? else {
            return Ok(None);
        };
        let now = db::now();
        if now - row.last_seen_at > IDLE_TIMEOUT_SECS
            || now - row.created_at > ABSOLUTE_TIMEOUT_SECS
        {
            db::sessions::delete(pool, &id_hash).await?;
            return Ok(None);
        }
        let Some(user) = db::users::by_id(pool, row.user_id).await? else {
            return Ok(None);
        };
        if user.locked {
            db::sessions::delete(pool, &id_hash).await?;
            return Ok(None);
        }
        if now - row.last_seen_at > TOUCH_INTERVAL_SECS {
            db::sessions::touch(pool, &id_hash, now).await?;
        }
        Ok(Some(Session {
            id_hash,
            csrf_token: row.csrf_token,
            user,
        }))
    }

    /// Ends one session.
    pub async fn delete_hash(&self, id_hash: &str) -> sqlx::Result<()> {
        db::sessions::delete(self.db.pool(), id_hash).await
    }

    /// Ends every session of a user except `keep` (after a password change, say).
    pub async fn delete_others(&self, user_id: i64, keep: Option<&str>) -> sqlx::Result<()> {
        db::sessions::delete_others(self.db.pool(), user_id, keep).await
    }

    /// Keeps a just-created key (its name and plaintext) in the session that created it, for the one
    /// page view that shows it: not in a cookie, so it never outlives the session (signing out ends it)
    /// and another person signing in in the same browser cannot see it.
    pub async fn stash_new_key(
        &self,
        session: &Session,
        name: &str,
        key: &str,
    ) -> sqlx::Result<()> {
        db::sessions::set_new_key(self.db.pool(), &session.id_hash, name, key, db::now()).await
    }

    /// Takes the session's waiting key (name, plaintext): at most once, within two minutes.
    pub async fn take_new_key(&self, session: &Session) -> sqlx::Result<Option<(String, String)>> {
        db::sessions::take_new_key(&self.db, &session.id_hash, db::now() - NEW_KEY_SECS).await
    }
}
