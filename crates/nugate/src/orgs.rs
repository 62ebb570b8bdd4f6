//! Organisations: accounts that own packages for a team, so packages and keys outlive any one person.
//! Members are administrators (manage members, keys, settings, and the organisation's packages' owners)
//! or collaborators (push and unlist); an organisation always keeps an administrator. Every right is
//! read from the database on each request, so a member who leaves loses it at once on every node.

use crate::audit::Event;
use crate::model::audit::AuditAction;
use std::sync::Arc;

use crate::auth::key_cache::KeyCache;
use crate::config::OrgCreation;
use crate::db::{self, keys::ApiKeyRow, users::User, Db};
use crate::error::ApiError;
use crate::mail::{self, messages, MailContext};
use crate::model::account::{AccountKind, OrgRole};
use crate::model::key::DAY;
use crate::model::policy::INVITATION_DAYS;
use crate::users::{valid_account_name, valid_email};

/// A request about organisations that cannot be carried out; messages are shown as they are.
#[derive(Debug, thiserror::Error)]
pub enum OrgError {
    #[error("Names are 1-64 characters: letters, digits, '.', '-' and '_'.")]
    InvalidName,
    #[error("'{0}' is not a valid email address.")]
    InvalidEmail(String),
    #[error("The name '{0}' is already taken by a user or an organisation.")]
    NameTaken(String),
    #[error("There is no organisation named '{0}'.")]
    NoSuchOrg(String),
    #[error("There is no user named '{0}'.")]
    NoSuchUser(String),
    #[error("Only administrators of '{0}' can do that.")]
    NotAnAdministrator(String),
    #[error("Only server administrators can create organisations on this server.")]
    CreationClosed,
    #[error("You must confirm your email address before you can create an organisation.")]
    Unconfirmed,
    #[error("'{user}' is not a member of '{org}'.")]
    NotAMember { user: String, org: String },
    #[error("'{user}' is already a member of '{org}'.")]
    AlreadyMember { user: String, org: String },
    #[error(
        "'{0}' must keep at least one administrator: make another member administrator first."
    )]
    LastAdministrator(String),
    #[error("'{0}' is an organisation; only users can be members.")]
    OrgAsMember(String),
    #[error("You have no invitation to join '{0}', or it has lapsed.")]
    NoInvitation(String),
    #[error("The key lifetime cap must be between 1 and {0} days.")]
    InvalidLifetime(u32),
    #[error("There is no key with that id acting for '{0}'.")]
    NoSuchKey(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

impl OrgError {
    /// Whether this is the database failing rather than a request the user can correct.
    pub fn is_outage(&self) -> bool {
        matches!(self, OrgError::Database(_))
    }
}

impl From<OrgError> for ApiError {
    fn from(error: OrgError) -> ApiError {
        match error {
            OrgError::Database(e) => e.into(),
            OrgError::NoSuchOrg(_) | OrgError::NoSuchUser(_) | OrgError::NoSuchKey(_) => {
                ApiError::NotFound(error.to_string())
            }
            OrgError::NotAnAdministrator(_) | OrgError::CreationClosed => {
                ApiError::Forbidden(error.to_string())
            }
            other => ApiError::BadRequest(other.to_string()),
        }
    }
}

/// An organisation's member as the members page lists them.
#[derive(Clone, Debug)]
pub struct Member {
    pub username: String,
    pub role: OrgRole,
}

/// What a signed-in user is to an organisation whose pages they see.
#[derive(Clone, Debug)]
pub struct Membership {
    pub org: User,
    /// Their role; `None` for a server administrator who is no member.
    pub role: Option<OrgRole>,
    /// Whether they manage the organisation: members, keys, settings.
    pub manages: bool,
}

/// The organisation service.
#[derive(Clone)]
pub struct OrgService {
    db: Db,
    mail: MailContext,
    creation: OrgCreation,
    max_key_lifetime_days: u32,
    /// Told of every membership change, which can end members' keys.
    keys: Arc<KeyCache>,
    audit: crate::audit::AuditLog,
}

impl OrgService {
    /// Wraps the database; `creation` says who may create organisations; `max_key_lifetime_days` is
    /// the server's cap an organisation's own may only lower.
    pub fn new(
        db: Db,
        mail: MailContext,
        creation: OrgCreation,
        max_key_lifetime_days: u32,
        keys: Arc<KeyCache>,
        audit: crate::audit::AuditLog,
    ) -> OrgService {
        OrgService {
            db,
            mail,
            creation,
            max_key_lifetime_days,
            keys,
            audit,
        }
    }

    /// Creates an organisation with `creator` as its first administrator. `email` is the organisation's
    /// contact address (it receives no sign-in mail: organisations never sign in); without one, an
    /// address that can never receive mail is recorded. `by_cli` creations ignore `org_creation`.
    pub async fn create(
        &self,
        creator: &User,
        name: &str,
        email: Option<&str>,
        by_cli: bool,
    ) -> Result<User, OrgError> {
        let name = name.trim();
        if !valid_account_name(name) {
            return Err(OrgError::InvalidName);
        }
        if !by_cli {
            self.may_create(creator)?;
        } else if creator.is_organization() {
            return Err(OrgError::OrgAsMember(creator.username.clone()));
        }
        let email = match email.map(str::trim).filter(|e| !e.is_empty()) {
            Some(e) if valid_email(e) => e.to_string(),
            Some(e) => return Err(OrgError::InvalidEmail(e.to_string())),
            None => format!("{}@organizations.invalid", name.to_lowercase()),
        };
        let now = db::now();
        let mut tx = self.db.begin_write().await?;
        let inserted = db::users::insert(
            &mut tx,
            &db::users::NewUser {
                username: name,
                email: &email,
                password_hash: None,
                is_admin: false,
                email_confirmed: true,
                kind: AccountKind::Organization,
            },
            now,
        )
        .await;
        let org_id = match inserted {
            Ok(id) => id,
            Err(e) if db::is_unique_violation(&e) => {
                return Err(OrgError::NameTaken(name.to_string()))
            }
            Err(e) => return Err(e.into()),
        };
        db::orgs::set_member(&mut tx, org_id, creator.id, OrgRole::Administrator, now).await?;
        tx.commit().await?;
        tracing::info!(org = name, admin = %creator.username, "organisation created");
        self.org(name).await
    }

    /// Whether `creator` may create an organisation from the web (the command line always may): the
    /// `org_creation` setting lets them, they are a person, and their address is confirmed.
    pub fn may_create(&self, creator: &User) -> Result<(), OrgError> {
        if self.creation == OrgCreation::Admin && !creator.is_admin {
            return Err(OrgError::CreationClosed);
        }
        if creator.is_organization() {
            return Err(OrgError::OrgAsMember(creator.username.clone()));
        }
        if !creator.email_confirmed {
            return Err(OrgError::Unconfirmed);
        }
        Ok(())
    }

    /// The organisation as `actor` may see it: its members see it with their role, server
    /// administrators as managers; to anyone else it does not exist ([`OrgError::NoSuchOrg`]).
    pub async fn membership(&self, actor: &User, org: &str) -> Result<Membership, OrgError> {
        let org = self.org(org).await?;
        let role = self.role(&org, actor).await?;
        if role.is_none() && !actor.is_admin {
            return Err(OrgError::NoSuchOrg(org.username));
        }
        Ok(Membership {
            manages: actor.is_admin || role.is_some_and(OrgRole::manages),
            org,
            role,
        })
    }

    /// An organisation by name.
    pub async fn org(&self, name: &str) -> Result<User, OrgError> {
        db::users::by_username(self.db.pool(), name.trim())
            .await?
            .filter(User::is_organization)
            .ok_or_else(|| OrgError::NoSuchOrg(name.trim().to_string()))
    }

    /// A user's role in an organisation, if a member.
    pub async fn role(&self, org: &User, user: &User) -> Result<Option<OrgRole>, OrgError> {
        Ok(db::orgs::role_of(self.db.pool(), org.id, user.id).await?)
    }

    /// The organisation, when `actor` is one of its administrators (or a server administrator).
    /// The organisation's audit trail, newest first: for its administrators (and server administrators).
    pub async fn activity(
        &self,
        actor: &User,
        org: &str,
        limit: i64,
    ) -> Result<(User, Vec<crate::db::audit::AuditRecord>), OrgError> {
        let org = self.administered(actor, org).await?;
        let query = crate::db::audit::AuditQuery {
            owner_id: Some(org.id),
            limit,
            ..Default::default()
        };
        let records = self.audit.list(&query).await?;
        Ok((org, records))
    }

    async fn administered(&self, actor: &User, org: &str) -> Result<User, OrgError> {
        let org = self.org(org).await?;
        let role = self.role(&org, actor).await?;
        if actor.is_admin || role.is_some_and(OrgRole::manages) {
            Ok(org)
        } else {
            Err(OrgError::NotAnAdministrator(org.username))
        }
    }

    /// The organisation `actor` administers, the user named `username`, and that user's role in it.
    async fn administered_with(
        &self,
        actor: &User,
        org: &str,
        username: &str,
    ) -> Result<(User, User, Option<OrgRole>), OrgError> {
        let org = self.administered(actor, org).await?;
        let user = self.user(username).await?;
        let role = db::orgs::role_of(self.db.pool(), org.id, user.id).await?;
        Ok((org, user, role))
    }

    async fn user(&self, username: &str) -> Result<User, OrgError> {
        let user = db::users::by_username(self.db.pool(), username.trim())
            .await?
            .ok_or_else(|| OrgError::NoSuchUser(username.trim().to_string()))?;
        if user.is_organization() {
            return Err(OrgError::OrgAsMember(user.username));
        }
        Ok(user)
    }

    /// Adds a member (or changes their role) at once: the command line's path, run by the server's
    /// operator. A change that would leave no administrator is refused.
    pub async fn set_member(
        &self,
        org: &str,
        username: &str,
        role: OrgRole,
    ) -> Result<(), OrgError> {
        let org = self.org(org).await?;
        let user = self.user(username).await?;
        self.assign(None, &org, &user, role).await
    }

    /// Gives `user` `role` in `org` at once, recorded as done by `actor` (`None`: the operator).
    async fn assign(
        &self,
        actor: Option<&User>,
        org: &User,
        user: &User,
        role: OrgRole,
    ) -> Result<(), OrgError> {
        let was = db::orgs::role_of(self.db.pool(), org.id, user.id).await?;
        let mut tx = self.db.begin_write().await?;
        db::orgs::set_member(&mut tx, org.id, user.id, role, db::now()).await?;
        if was == Some(OrgRole::Administrator)
            && db::orgs::administrators(&mut tx, org.id).await? == 0
        {
            return Err(OrgError::LastAdministrator(org.username.clone()));
        }
        db::orgs::delete_request(&mut tx, org.id, user.id).await?;
        let action = if was.is_some() {
            AuditAction::MemberRole
        } else {
            AuditAction::MemberJoin
        };
        let mut change = Event::new(action);
        if let Some(actor) = actor {
            change = change.by(actor);
        }
        let change = change
            .for_owner(org)
            .detail(format!("{} is {}", user.username, role.label()));
        tx.commit().await?;
        self.audit.record(change).await;
        self.keys.invalidate();
        Ok(())
    }

    /// `actor` (an administrator of `org`) asks `username` to join with `role`; they are emailed and
    /// become a member when they accept. A member already is given the role at once.
    pub async fn invite_member(
        &self,
        actor: &User,
        org: &str,
        username: &str,
        role: OrgRole,
    ) -> Result<(), OrgError> {
        let (org, user, current) = self.administered_with(actor, org, username).await?;
        if current.is_some() {
            return self.assign(Some(actor), &org, &user, role).await;
        }
        db::orgs::request(self.db.pool(), org.id, user.id, role, actor.id, db::now()).await?;
        let link = format!("{}/organizations/{}/join", self.mail.base_url, org.username);
        let email = messages::organization_invitation(
            &self.mail,
            &user,
            &actor.username,
            &org.username,
            role.label(),
            &link,
        );
        mail::enqueue(&self.db, &email).await?;
        self.audit
            .record(
                Event::new(AuditAction::MemberInvite)
                    .by(actor)
                    .for_owner(&org)
                    .detail(format!("invited {} as {}", user.username, role.label())),
            )
            .await;
        Ok(())
    }

    /// The role `user` is invited to `org` with, if the invitation stands (30 days).
    pub async fn invitation(&self, user: &User, org: &str) -> Result<Option<OrgRole>, OrgError> {
        let org = self.org(org).await?;
        let pending = db::orgs::pending_request(self.db.pool(), org.id, user.id).await?;
        Ok(pending
            .filter(|(_, at)| *at >= db::now() - INVITATION_DAYS * DAY)
            .map(|(role, _)| role))
    }

    /// Accepts an invitation: the user becomes a member with the offered role, in one transaction.
    pub async fn accept(&self, user: &User, org: &str) -> Result<OrgRole, OrgError> {
        let Some(role) = self.invitation(user, org).await? else {
            return Err(OrgError::NoInvitation(org.trim().to_string()));
        };
        let org = self.org(org).await?;
        let mut tx = self.db.begin_write().await?;
        if !db::orgs::delete_request(&mut tx, org.id, user.id).await? {
            return Err(OrgError::NoInvitation(org.username));
        }
        db::orgs::set_member(&mut tx, org.id, user.id, role, db::now()).await?;
        let joined = Event::new(AuditAction::MemberJoin)
            .by(user)
            .for_owner(&org)
            .detail(format!("{} joined as {}", user.username, role.label()));
        tx.commit().await?;
        self.audit.record(joined).await;
        Ok(role)
    }

    /// `actor` changes a member's role (administrators only; the last administrator stays one).
    pub async fn change_role(
        &self,
        actor: &User,
        org: &str,
        username: &str,
        role: OrgRole,
    ) -> Result<(), OrgError> {
        let (org, user, current) = self.administered_with(actor, org, username).await?;
        if current.is_none() {
            return Err(OrgError::NotAMember {
                user: user.username,
                org: org.username,
            });
        }
        self.assign(Some(actor), &org, &user, role).await
    }

    /// Removes a member: an administrator removes anyone, a member may leave; the last administrator
    /// cannot go. Their keys for the organisation stop working at once (membership is read with every
    /// key check); a pending invitation is withdrawn the same way.
    pub async fn remove_member(
        &self,
        actor: &User,
        org: &str,
        username: &str,
    ) -> Result<(), OrgError> {
        let org_account = self.org(org).await?;
        let user = self.user(username).await?;
        if actor.id != user.id {
            self.administered(actor, org).await?;
        }
        self.remove(Some(actor), &org_account, &user).await
    }

    /// Removes a member without asking who wants it: the command line's path.
    pub async fn remove_member_by_operator(
        &self,
        org: &str,
        username: &str,
    ) -> Result<(), OrgError> {
        let org = self.org(org).await?;
        let user = self.user(username).await?;
        self.remove(None, &org, &user).await
    }

    async fn remove(&self, actor: Option<&User>, org: &User, user: &User) -> Result<(), OrgError> {
        let mut tx = self.db.begin_write().await?;
        let withdrawn = db::orgs::delete_request(&mut tx, org.id, user.id).await?;
        let removed = db::orgs::remove_member(&mut tx, org.id, user.id).await?;
        if !removed && !withdrawn {
            return Err(OrgError::NotAMember {
                user: user.username.clone(),
                org: org.username.clone(),
            });
        }
        if db::orgs::administrators(&mut tx, org.id).await? == 0 {
            return Err(OrgError::LastAdministrator(org.username.clone()));
        }
        let mut change = Event::new(AuditAction::MemberRemove);
        if let Some(actor) = actor {
            change = change.by(actor);
        }
        let change = change
            .for_owner(org)
            .detail(format!("{} removed", user.username));
        tx.commit().await?;
        self.audit.record(change).await;
        self.keys.invalidate();
        tracing::info!(org = %org.username, member = %user.username, "member removed");
        Ok(())
    }

    /// An organisation's members and pending invitations (username, role).
    pub async fn members(&self, org: &User) -> Result<(Vec<Member>, Vec<Member>), OrgError> {
        let pool = self.db.pool();
        let members = db::orgs::members(pool, org.id)
            .await?
            .into_iter()
            .map(|(u, role)| Member {
                username: u.username,
                role,
            })
            .collect();
        let pending = db::orgs::pending_requests(pool, org.id)
            .await?
            .into_iter()
            .map(|(username, role)| Member { username, role })
            .collect();
        Ok((members, pending))
    }

    /// The organisations a user belongs to, with their role.
    pub async fn of_user(&self, user: &User) -> Result<Vec<(User, OrgRole)>, OrgError> {
        Ok(db::orgs::of_user(self.db.pool(), user.id).await?)
    }

    /// Every organisation.
    pub async fn list(&self) -> Result<Vec<User>, OrgError> {
        Ok(db::orgs::all(self.db.pool()).await?)
    }

    /// Every key acting for the organisation, with who made it (never a secret): what its
    /// administrators see and may revoke.
    pub async fn keys(
        &self,
        actor: &User,
        org: &str,
    ) -> Result<Vec<(ApiKeyRow, String)>, OrgError> {
        let org = self.administered(actor, org).await?;
        self.keys_of(&org).await
    }

    /// Every key acting for the organisation: the command line's view.
    pub async fn keys_of(&self, org: &User) -> Result<Vec<(ApiKeyRow, String)>, OrgError> {
        Ok(db::keys::list_for_owner(self.db.pool(), org.id).await?)
    }

    /// Revokes a key acting for the organisation (administrators only); returns it and its maker.
    pub async fn revoke_key(
        &self,
        actor: &User,
        org: &str,
        key_id: i64,
    ) -> Result<(ApiKeyRow, String), OrgError> {
        let org = self.administered(actor, org).await?;
        let (key, maker) = self
            .keys_of(&org)
            .await?
            .into_iter()
            .find(|(k, _)| k.id == key_id)
            .ok_or_else(|| OrgError::NoSuchKey(org.username.clone()))?;
        let now = db::now();
        if key.status(now).is_active() {
            db::keys::expire_now(self.db.pool(), key.id, now, true).await?;
            self.keys.invalidate();
        }
        tracing::info!(org = %org.username, key = key.name(), by = %actor.username, "organisation key revoked");
        Ok((key, maker))
    }

    /// Sets the organisation's cap on key lifetimes (`None`: the server's).
    pub async fn set_max_key_lifetime(
        &self,
        actor: &User,
        org: &str,
        days: Option<u32>,
    ) -> Result<(), OrgError> {
        let org = self.administered(actor, org).await?;
        if let Some(d) = days {
            if d == 0 || d > self.max_key_lifetime_days {
                return Err(OrgError::InvalidLifetime(self.max_key_lifetime_days));
            }
        }
        Ok(db::orgs::set_max_key_lifetime(self.db.pool(), org.id, days.map(i64::from)).await?)
    }
}
