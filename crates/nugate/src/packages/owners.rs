//! Ownership: who owns a package, invitations to co-own it (accepted by the invitee, as on NuGet.org),
//! removal (never of the last owner), and the lists pages and commands show.

use crate::audit::Event;
use crate::model::audit::AuditAction;
use std::collections::HashMap;

use super::PackageService;
use crate::db::{self, packages::Registration, packages::RemoveOwner, users::User};
use crate::error::ApiError;
use crate::mail::{self, messages};
use crate::model::account::OrgRole;
use crate::model::key::DAY;
use crate::model::policy::INVITATION_DAYS;

/// One package as the administration page lists it.
pub struct AdminPackage {
    pub id: String,
    pub owners: Vec<String>,
    pub versions: Vec<(String, bool)>,
}

fn no_package(id: &str) -> ApiError {
    ApiError::NotFound(format!("There is no package with ID '{id}'."))
}

fn no_user(username: &str) -> ApiError {
    ApiError::BadRequest(format!("There is no user named '{username}'."))
}

impl PackageService {
    /// A registration by ID, any case.
    pub async fn registration(&self, id: &str) -> Result<Option<Registration>, ApiError> {
        Ok(db::packages::registration(self.db.pool(), id).await?)
    }

    /// Every version of an ID, listed or not, in push order (empty when the ID does not exist).
    pub async fn versions(&self, id: &str) -> Result<Vec<db::packages::PackageVersion>, ApiError> {
        Ok(db::packages::versions_of(self.db.pool(), id).await?)
    }

    /// Whether `user` may unlist and relist the package: server administrators, its owners, and every
    /// member (any role) of an organisation that owns it.
    pub async fn can_manage(
        &self,
        user: Option<&User>,
        registration_id: i64,
    ) -> Result<bool, ApiError> {
        self.may(user, registration_id, |_| true).await
    }

    /// Whether `user` may manage the package's owners: server administrators, owners themselves, and
    /// administrators of an organisation that owns it (collaborators may not).
    pub async fn can_manage_owners(
        &self,
        user: Option<&User>,
        registration_id: i64,
    ) -> Result<bool, ApiError> {
        self.may(user, registration_id, OrgRole::manages).await
    }

    /// Whether `user` is a server administrator, an owner, or a member of an owning organisation in a
    /// role that `role_may`.
    async fn may(
        &self,
        user: Option<&User>,
        registration_id: i64,
        role_may: impl Fn(OrgRole) -> bool,
    ) -> Result<bool, ApiError> {
        let Some(user) = user else { return Ok(false) };
        if user.is_admin {
            return Ok(true);
        }
        let (direct, roles) =
            db::packages::management_of(self.db.pool(), registration_id, user.id).await?;
        Ok(direct || roles.into_iter().any(role_may))
    }

    /// The owners' usernames, sorted.
    pub async fn owner_names(&self, registration_id: i64) -> Result<Vec<String>, ApiError> {
        Ok(db::packages::owner_names(self.db.pool(), registration_id).await?)
    }

    /// IDs a user owns, sorted.
    pub async fn owned_ids(&self, user: &User) -> Result<Vec<String>, ApiError> {
        Ok(db::packages::owned_ids(self.db.pool(), user.id).await?)
    }

    /// Usernames invited to own the package and not yet accepted.
    pub async fn pending_invitations(&self, registration_id: i64) -> Result<Vec<String>, ApiError> {
        let since = db::now() - INVITATION_DAYS * DAY;
        Ok(db::invitations::pending_names(self.db.pool(), registration_id, since).await?)
    }

    /// `actor` (an owner or administrator) invites `invitee` to co-own `id`; the invitee is emailed a
    /// link and becomes an owner on accepting.
    pub async fn invite_owner(
        &self,
        actor: &User,
        id: &str,
        invitee: &str,
    ) -> Result<Registration, ApiError> {
        let invitee = invitee.trim();
        let registration = self.managed_registration(actor, id).await?;
        let pool = self.db.pool();
        let invited = db::users::by_username(pool, invitee)
            .await?
            .ok_or_else(|| no_user(invitee))?;
        let owners = db::packages::owner_names(pool, registration.id).await?;
        if owners
            .iter()
            .any(|o| o.eq_ignore_ascii_case(&invited.username))
        {
            return Err(ApiError::BadRequest(format!(
                "'{}' already owns {}.",
                invited.username, registration.package_id
            )));
        }
        db::invitations::insert(pool, registration.id, invited.id, actor.id, db::now()).await?;
        // Package IDs are letters, digits, '.', '-' and '_': safe in a URL path as they are.
        let link = format!(
            "{}/packages/{}/owners/accept",
            self.mail.base_url, registration.package_id
        );
        // An organisation accepts through any of its administrators, so each is told.
        let recipients = if invited.is_organization() {
            db::orgs::members(pool, invited.id)
                .await?
                .into_iter()
                .filter(|(_, role)| role.manages())
                .map(|(admin, _)| admin)
                .collect()
        } else {
            vec![invited.clone()]
        };
        for recipient in recipients {
            let email = messages::ownership_invitation(
                &self.mail,
                &recipient,
                &actor.username,
                &registration.package_id,
                &link,
            );
            mail::enqueue(&self.db, &email).await?;
        }
        self.audit
            .record(
                Event::new(AuditAction::OwnerInvite)
                    .by(actor)
                    .package(&registration.package_id, None)
                    .detail(format!("invited {}", invited.username)),
            )
            .await;
        Ok(registration)
    }

    /// The invitation `user` may accept for `id` — their own, or one to an organisation they administer
    /// — with who sent it and the account it makes an owner, if it still stands: an invitation lapses
    /// after [`INVITATION_DAYS`] days, and dies with its inviter's right to manage the package's owners
    /// (removed as an owner, account deleted), so a removed owner cannot leave a way back in.
    pub async fn invitation(
        &self,
        user: &User,
        id: &str,
    ) -> Result<Option<(Registration, String, User)>, ApiError> {
        let Some(registration) = self.registration(id).await? else {
            return Ok(None);
        };
        let pool = self.db.pool();
        let mut candidates = vec![user.clone()];
        for (org, role) in db::orgs::of_user(pool, user.id).await? {
            if role.manages() {
                candidates.push(org);
            }
        }
        for invitee in candidates {
            let Some(invitation) = db::invitations::find(pool, registration.id, invitee.id).await?
            else {
                continue;
            };
            if invitation.created_at < db::now() - INVITATION_DAYS * DAY {
                continue;
            }
            let inviter = match invitation.invited_by {
                Some(inviter_id) => db::users::by_id(pool, inviter_id).await?,
                None => None,
            };
            let Some(inviter) = inviter else { continue };
            if inviter.locked
                || !self
                    .can_manage_owners(Some(&inviter), registration.id)
                    .await?
            {
                continue;
            }
            return Ok(Some((registration, inviter.username, invitee)));
        }
        Ok(None)
    }

    /// Accepts an invitation that still stands: its invitee (the user, or their organisation) becomes
    /// an owner and the invitation goes, in one transaction.
    pub async fn accept_invitation(&self, user: &User, id: &str) -> Result<Registration, ApiError> {
        let Some((registration, _, invitee)) = self.invitation(user, id).await? else {
            return Err(ApiError::NotFound(format!(
                "You have no invitation to own '{id}', or it has lapsed."
            )));
        };
        let mut tx = self.db.begin_write().await?;
        if !db::invitations::delete(&mut tx, registration.id, invitee.id).await? {
            return Err(ApiError::NotFound(format!(
                "You have no invitation to own '{}'.",
                registration.package_id
            )));
        }
        db::packages::add_owner(&mut tx, registration.id, invitee.id, db::now()).await?;
        db::packages::mark_changed(&mut tx, registration.id).await?;
        let added = Event::new(AuditAction::OwnerAdd)
            .by(user)
            .for_owner(&invitee)
            .package(&registration.package_id, None)
            .detail(format!("{} accepted the invitation", invitee.username));
        tx.commit().await?;
        self.audit.record(added).await;
        self.feed.changed();
        self.owner_cache.invalidate();
        Ok(registration)
    }

    /// `actor` (an owner or administrator) withdraws the invitation `username` holds for `id`.
    pub async fn cancel_invitation(
        &self,
        actor: &User,
        id: &str,
        username: &str,
    ) -> Result<Registration, ApiError> {
        let registration = self.managed_registration(actor, id).await?;
        let (_, invitee) = self.registration_and_user(id, username).await?;
        let mut tx = self.db.begin_write().await?;
        let removed = db::invitations::delete(&mut tx, registration.id, invitee.id).await?;
        tx.commit().await?;
        if !removed {
            return Err(ApiError::BadRequest(format!(
                "'{}' has no invitation to own {}.",
                invitee.username, registration.package_id
            )));
        }
        Ok(registration)
    }

    /// `actor` (an owner or administrator) removes `username` from the owners of `id`.
    pub async fn remove_owner_as(
        &self,
        actor: &User,
        id: &str,
        username: &str,
    ) -> Result<Registration, ApiError> {
        let registration = self.managed_registration(actor, id).await?;
        self.remove_owner(&registration.package_id, username)
            .await?;
        self.audit
            .record(
                Event::new(AuditAction::OwnerRemove)
                    .by(actor)
                    .package(&registration.package_id, None)
                    .detail(format!("removed {username}")),
            )
            .await;
        Ok(registration)
    }

    /// The registration, when `actor` may manage its owners; to anyone else it does not exist.
    async fn managed_registration(&self, actor: &User, id: &str) -> Result<Registration, ApiError> {
        match self.registration(id).await? {
            Some(registration) if self.can_manage_owners(Some(actor), registration.id).await? => {
                Ok(registration)
            }
            _ => Err(no_package(id)),
        }
    }

    /// Adds `username` as an owner of `id` (the CLI's direct path, no invitation); false when it
    /// already was one.
    pub async fn add_owner(&self, id: &str, username: &str) -> Result<bool, ApiError> {
        let (registration, user) = self.registration_and_user(id, username).await?;
        let mut tx = self.db.begin_write().await?;
        let added = db::packages::add_owner(&mut tx, registration.id, user.id, db::now()).await?;
        db::packages::mark_changed(&mut tx, registration.id).await?;
        let change = Event::new(AuditAction::OwnerAdd)
            .for_owner(&user)
            .package(&registration.package_id, None)
            .detail(format!("{} added by the operator", user.username));
        tx.commit().await?;
        self.audit.record(change).await;
        self.feed.changed();
        self.owner_cache.invalidate();
        Ok(added)
    }

    /// Removes `username` from the owners of `id`, never the last owner.
    pub async fn remove_owner(&self, id: &str, username: &str) -> Result<(), ApiError> {
        let (registration, user) = self.registration_and_user(id, username).await?;
        let mut tx = self.db.begin_write().await?;
        match db::packages::remove_owner(&mut tx, registration.id, user.id).await? {
            RemoveOwner::Removed => {
                // Invitations the removed owner sent die with their right to send them.
                db::invitations::delete_sent_by(&mut tx, registration.id, user.id).await?;
                db::packages::mark_changed(&mut tx, registration.id).await?;
                tx.commit().await?;
                self.feed.changed();
                self.owner_cache.invalidate();
                Ok(())
            }
            RemoveOwner::NotAnOwner => Err(ApiError::BadRequest(format!(
                "'{}' is not an owner of '{}'.",
                user.username, registration.package_id
            ))),
            RemoveOwner::LastOwner => Err(ApiError::BadRequest(format!(
                "'{}' is the last owner of '{}'; add another owner first.",
                user.username, registration.package_id
            ))),
        }
    }

    async fn registration_and_user(
        &self,
        id: &str,
        username: &str,
    ) -> Result<(Registration, User), ApiError> {
        let registration = self.registration(id).await?.ok_or_else(|| no_package(id))?;
        let user = db::users::by_username(self.db.pool(), username.trim())
            .await?
            .ok_or_else(|| no_user(username.trim()))?;
        Ok((registration, user))
    }

    /// Every package with its owners, by ID (two queries however many packages there are); only those
    /// `owner` owns when given.
    pub async fn list_with_owners(
        &self,
        owner: Option<&str>,
    ) -> Result<Vec<(String, Vec<String>)>, ApiError> {
        let pool = self.db.pool();
        let mut owners = owners_by_registration(db::packages::all_owner_names(pool).await?);
        let rows = db::packages::list_registrations(pool)
            .await?
            .into_iter()
            .map(|reg| (reg.package_id, owners.remove(&reg.id).unwrap_or_default()))
            .filter(|(_, names)| {
                owner.is_none_or(|o| names.iter().any(|n| n.eq_ignore_ascii_case(o)))
            })
            .collect();
        Ok(rows)
    }

    /// Every package with its owners and versions, for the administration page (three queries).
    pub async fn admin_overview(&self) -> Result<Vec<AdminPackage>, ApiError> {
        let pool = self.db.pool();
        let mut owners = owners_by_registration(db::packages::all_owner_names(pool).await?);
        let mut versions: HashMap<i64, Vec<(String, bool)>> = HashMap::new();
        for (registration_id, version, listed) in db::packages::all_version_listings(pool).await? {
            versions
                .entry(registration_id)
                .or_default()
                .push((version, listed));
        }
        Ok(db::packages::list_registrations(pool)
            .await?
            .into_iter()
            .map(|reg| AdminPackage {
                owners: owners.remove(&reg.id).unwrap_or_default(),
                versions: versions.remove(&reg.id).unwrap_or_default(),
                id: reg.package_id,
            })
            .collect())
    }
}

fn owners_by_registration(pairs: Vec<(i64, String)>) -> HashMap<i64, Vec<String>> {
    let mut owners: HashMap<i64, Vec<String>> = HashMap::new();
    for (registration_id, name) in pairs {
        owners.entry(registration_id).or_default().push(name);
    }
    owners
}
