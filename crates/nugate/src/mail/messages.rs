//! The messages nugate sends, worded like NuGet.org's where NuGet.org has an equivalent so users recognise
//! them. Bodies are plain text; builders never receive, and so can never include, a key's secret.

use super::{Email, MailContext, MailKind};
use crate::db::keys::ApiKeyRow;
use crate::db::users::User;
use crate::model::key::{KeyKind, LEGACY_IDLE_DAYS};
use crate::model::policy::INVITATION_DAYS;

/// Replaces control characters (newlines included) so user-chosen text such as a key name cannot add
/// lines to a body or headers to a message.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn subject(ctx: &MailContext, text: &str) -> String {
    one_line(&format!("[{}] {text}", ctx.brand))
}

fn signature(ctx: &MailContext) -> String {
    format!("Thanks,\nThe {} Team\n", ctx.brand)
}

fn greeting(user: &User) -> String {
    format!("Hi {},\n\n", one_line(&user.username))
}

fn key_name(key: &ApiKeyRow) -> String {
    key.name
        .as_deref()
        .map(one_line)
        .unwrap_or_else(|| "(unnamed)".to_string())
}

fn keys_url(ctx: &MailContext) -> String {
    format!("{}/account/apikeys", ctx.base_url)
}

/// Formats Unix seconds as `YYYY-MM-DD HH:MM UTC`.
pub fn format_time(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| format!("@{secs}"))
}

fn expiry_line(key: &ApiKeyRow) -> String {
    match key.expires_at {
        Some(at) => format!("Expires: {}", format_time(at)),
        None if key.kind == KeyKind::Legacy => {
            format!("Expires: never expires if used every {LEGACY_IDLE_DAYS} days")
        }
        None => "Expires: never".to_string(),
    }
}

/// Name, owner, scopes, packages, globs and expiry: everything that says what the key can do. A legacy
/// key says what it is (full access to every package of its user) rather than listing a `*` glob.
fn key_details(user: &User, key: &ApiKeyRow) -> String {
    let mut lines = vec![
        format!("Key name: {}", key_name(key)),
        format!(
            "Package owner: {}",
            one_line(key.owner_name.as_deref().unwrap_or(&user.username))
        ),
        "Scopes:".to_string(),
    ];
    lines.extend(
        key.actions
            .iter()
            .map(|action| format!("  - {}", action.description())),
    );
    if key.kind != KeyKind::Legacy {
        let list = |title: &str, items: Vec<&str>| {
            let mut out = Vec::new();
            if !items.is_empty() {
                out.push(title.to_string());
                out.extend(items.into_iter().map(|i| format!("  - {}", one_line(i))));
            }
            out
        };
        lines.extend(list("Packages:", key.packages().collect()));
        lines.extend(list("Glob patterns:", key.globs().collect()));
    }
    lines.push(expiry_line(key));
    lines.join("\n") + "\n"
}

fn not_you(ctx: &MailContext) -> String {
    format!(
        "If you did not request this change, revoke the key and change your password right away:\n\n{}\n\n",
        keys_url(ctx)
    )
}

/// Sent after sign-up so the address is proven before the account can create keys.
pub fn confirm_account(ctx: &MailContext, user: &User, link: &str) -> Email {
    Email {
        to: user.email.clone(),
        subject: subject(ctx, "Please verify your account"),
        body: format!(
            "{}Thank you for registering with {brand}. We can't wait to see what packages you'll upload.\n\n\
             So we can be sure to contact you, please verify your email address by clicking the following link:\n\n\
             {link}\n\n\
             If you did not create this account, you can ignore this email.\n\n{}",
            greeting(user),
            signature(ctx),
            brand = ctx.brand,
        ),
        kind: MailKind::ConfirmAccount,
        expires_at: None,
    }
}

/// Sent on a password-reset request; harmless if the request was not the user's.
pub fn password_reset(ctx: &MailContext, user: &User, link: &str) -> Email {
    Email {
        to: user.email.clone(),
        subject: subject(ctx, "Please reset your password"),
        body: format!(
            "{}The word on the street is you lost your password. Sorry to hear it!\n\
             If you haven't forgotten your password you can safely ignore this email. \
             Your password has not been changed.\n\n\
             Click the following link to reset your password:\n\n\
             {link}\n\n{}",
            greeting(user),
            signature(ctx),
        ),
        kind: MailKind::PasswordReset,
        expires_at: None,
    }
}

/// Sent to the NEW address after an address change, because only its owner can prove it is theirs.
pub fn confirm_new_email(ctx: &MailContext, user: &User, new_address: &str, link: &str) -> Email {
    Email {
        to: new_address.to_string(),
        subject: subject(ctx, "Please verify your new email address"),
        body: format!(
            "{}You recently changed your {brand} account's email address to {address}.\n\n\
             To verify your new email address, click the following link:\n\n\
             {link}\n\n\
             Until you do, mail keeps going to your previous address.\n\n{}",
            greeting(user),
            signature(ctx),
            brand = ctx.brand,
            address = one_line(new_address),
        ),
        kind: MailKind::ConfirmNewEmail,
        expires_at: None,
    }
}

/// Sent whenever a key is added, so a key created by someone else with the user's session is noticed.
pub fn key_created(ctx: &MailContext, user: &User, key: &ApiKeyRow) -> Email {
    Email {
        to: user.email.clone(),
        subject: subject(ctx, "API key added to your account"),
        body: format!(
            "{}An API key named '{}' was added to your account.\n\n{}\n{}{}",
            greeting(user),
            key_name(key),
            key_details(user, key),
            not_you(ctx),
            signature(ctx),
        ),
        kind: MailKind::KeyChanged,
        expires_at: None,
    }
}

/// Sent when a key gets a new secret: the old secret stops working, which breaks anything still using it.
pub fn key_regenerated(ctx: &MailContext, user: &User, key: &ApiKeyRow) -> Email {
    Email {
        to: user.email.clone(),
        subject: subject(ctx, "API key regenerated"),
        body: format!(
            "{}The API key named '{}' on your account was regenerated. The previous key no longer works; \
             update anything that used it.\n\n{}\n{}{}",
            greeting(user),
            key_name(key),
            key_details(user, key),
            not_you(ctx),
            signature(ctx),
        ),
        kind: MailKind::KeyChanged,
        expires_at: None,
    }
}

/// Sent when a key is revoked, so the owner knows pushes with it will now fail.
pub fn key_revoked(ctx: &MailContext, user: &User, key: &ApiKeyRow) -> Email {
    let name = key_name(key);
    Email {
        to: user.email.clone(),
        subject: subject(ctx, &format!("API Key '{name}' Revoked")),
        body: format!(
            "{}The API key named '{name}' on your account was revoked and can no longer be used.\n\n{}\n{}{}",
            greeting(user),
            key_details(user, key),
            not_you(ctx),
            signature(ctx),
        ),
        kind: MailKind::KeyChanged,
        expires_at: None,
    }
}

/// Sent when a key reported as leaked is revoked.
pub fn key_leaked(ctx: &MailContext, user: &User, key: &ApiKeyRow) -> Email {
    let name = key_name(key);
    Email {
        to: user.email.clone(),
        subject: subject(ctx, &format!("API Key '{name}' Revoked: it was found exposed")),
        body: format!(
            "{}The API key named '{name}' on your account was found exposed (reported as leaked), so it \
             was revoked and can no longer be used. Create a new key where it was used, and keep it out \
             of source code, logs and public places.\n\n{}\n{}",
            greeting(user),
            key_details(user, key),
            signature(ctx),
        ),
        kind: MailKind::KeyChanged,
        expires_at: None,
    }
}

/// Sent when a key is deleted for good.
pub fn key_deleted(ctx: &MailContext, user: &User, key: &ApiKeyRow) -> Email {
    let name = key_name(key);
    Email {
        to: user.email.clone(),
        subject: subject(ctx, "API key removed from your account"),
        body: format!(
            "{}An API key named '{name}' was removed from your account.\n\n{}\n{}{}",
            greeting(user),
            key_details(user, key),
            not_you(ctx),
            signature(ctx),
        ),
        kind: MailKind::KeyChanged,
        expires_at: None,
    }
}

/// One batched warning for all of a user's keys that expire soon: `(name, whole days left)`.
pub fn keys_expiring(ctx: &MailContext, user: &User, keys: &[(String, i64)]) -> Email {
    let list: String = keys
        .iter()
        .map(|(name, days)| format!("{} - expires in {days} day(s).\n", one_line(name)))
        .collect();
    Email {
        to: user.email.clone(),
        subject: subject(ctx, "Your API key is about to expire"),
        body: format!(
            "{}We wanted to inform you that the following API key(s) will expire soon:\n\n{list}\n\
             Visit {} to regenerate the key(s) so that you can continue pushing packages using them.\n\n{}",
            greeting(user),
            keys_url(ctx),
            signature(ctx),
        ),
        kind: MailKind::KeyExpiry,
        expires_at: None,
    }
}

/// One batched notice for all of a user's keys that have just expired.
pub fn keys_expired(ctx: &MailContext, user: &User, names: &[String]) -> Email {
    let list: String = names
        .iter()
        .map(|name| format!("{} - has expired.\n", one_line(name)))
        .collect();
    Email {
        to: user.email.clone(),
        subject: subject(ctx, "Your API key has expired"),
        body: format!(
            "{}We wanted to inform you that the following API key(s) have expired:\n\n{list}\n\
             Visit {} to regenerate the key(s) so that you can continue pushing packages using them.\n\n{}",
            greeting(user),
            keys_url(ctx),
            signature(ctx),
        ),
        kind: MailKind::KeyExpiry,
        expires_at: None,
    }
}

/// Sent to a user invited as co-owner of a package; the link leads to the page to accept or decline.
pub fn ownership_invitation(
    ctx: &MailContext,
    invitee: &User,
    inviter_username: &str,
    package_id: &str,
    link: &str,
) -> Email {
    let inviter = one_line(inviter_username);
    let package = one_line(package_id);
    Email {
        to: invitee.email.clone(),
        subject: subject(
            ctx,
            &format!("The user '{inviter}' would like to add you as an owner of the package '{package}'"),
        ),
        body: format!(
            "{}The user '{inviter}' would like to add you as an owner of the package '{package}'.\n\n\
             To accept or decline this request, visit:\n\n\
             {link}\n\n\
             If you do nothing, you will not become an owner: the invitation lapses after {INVITATION_DAYS} \
             days, or sooner if '{inviter}' stops being an owner.\n\n{}",
            greeting(invitee),
            signature(ctx),
        ),
        kind: MailKind::OwnershipInvitation,
        expires_at: None,
    }
}

/// Asks a user to join an organisation; they become a member only by accepting.
pub fn organization_invitation(
    ctx: &MailContext,
    invitee: &User,
    inviter_username: &str,
    org: &str,
    role: &str,
    link: &str,
) -> Email {
    let inviter = one_line(inviter_username);
    let org = one_line(org);
    Email {
        to: invitee.email.clone(),
        subject: subject(
            ctx,
            &format!("The user '{inviter}' would like you to join the organization '{org}'"),
        ),
        body: format!(
            "{}The user '{inviter}' would like you to join the organization '{org}' as {}.\n\n\
             To accept or decline, visit:\n\n{link}\n\n\
             If you do nothing, you will not become a member: the invitation lapses after \
             {INVITATION_DAYS} days.\n\n{}",
            greeting(invitee),
            one_line(role),
            signature(ctx),
        ),
        kind: MailKind::OwnershipInvitation,
        expires_at: None,
    }
}

/// Sent to the owner of an address someone tried to sign up with: the sign-up page answers the same
/// whether or not an address is taken, and this tells the one person who should know.
pub fn signup_address_in_use(ctx: &MailContext, existing: &User) -> Email {
    Email {
        to: existing.email.clone(),
        subject: subject(ctx, "Someone tried to sign up with your email address"),
        body: format!(
            "{}Someone, maybe you, tried to create a {brand} account with this email address, which \
             your account '{}' already uses.\n\n\
             If it was you, sign in at {base}/signin, or choose a new password at \
             {base}/account/forgot-password.\n\n\
             If it was not you, you can ignore this email: nothing changed.\n\n{}",
            greeting(existing),
            one_line(&existing.username),
            signature(ctx),
            brand = ctx.brand,
            base = ctx.base_url,
        ),
        kind: MailKind::SignupAttempt,
        expires_at: None,
    }
}

/// Sent to a new address whose chosen username is taken (the page does not say so).
pub fn signup_username_taken(ctx: &MailContext, address: &str, username: &str) -> Email {
    Email {
        to: address.to_string(),
        subject: subject(ctx, "Choose another username"),
        body: format!(
            "Hi,\n\nSomeone, maybe you, tried to create a {brand} account for this email address with the \
             username '{}', which is already taken. No account was created.\n\n\
             To sign up, choose another username at {}/register.\n\n\
             If it was not you, you can ignore this email.\n\n{}",
            one_line(username),
            ctx.base_url,
            signature(ctx),
            brand = ctx.brand,
        ),
        kind: MailKind::SignupAttempt,
        expires_at: None,
    }
}

/// Sent when a trusted-publishing policy is added: from now on that workflow can obtain keys.
pub fn trust_policy_added(ctx: &MailContext, user: &User, policy: &str) -> Email {
    Email {
        to: user.email.clone(),
        subject: subject(ctx, "Trusted publishing policy added"),
        body: format!(
            "{}A trusted publishing policy was added: {policy}.\n\nRuns of that workflow can now obtain \
             API keys that live one hour, without a stored key.\n{}{}",
            greeting(user),
            not_you(ctx),
            signature(ctx),
        ),
        kind: MailKind::KeyChanged,
        expires_at: None,
    }
}

/// Sent when a policy is used for the first time, which locks it to the repository that used it.
pub fn trust_policy_first_use(ctx: &MailContext, user: &User, policy: &str, run: &str) -> Email {
    Email {
        to: user.email.clone(),
        subject: subject(ctx, "Trusted publishing policy used for the first time"),
        body: format!(
            "{}The trusted publishing policy {policy} was used for the first time, by {run}.\n\nIt is now \
             bound to that repository: a repository deleted and created again under the same name \
             gets no keys from it.\n{}{}",
            greeting(user),
            not_you(ctx),
            signature(ctx),
        ),
        kind: MailKind::KeyChanged,
        expires_at: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::key::KeyAction;

    fn ctx() -> MailContext {
        MailContext {
            brand: "nugate".into(),
            base_url: "https://feed.example".into(),
        }
    }

    fn user() -> User {
        User {
            id: 1,
            username: "alice".into(),
            email: "alice@example.com".into(),
            password_hash: None,
            is_admin: false,
            email_confirmed: true,
            locked: false,
            created_at: 0,
            kind: crate::model::account::AccountKind::User,
            max_key_lifetime_days: None,
        }
    }

    fn key(
        kind: KeyKind,
        actions: &[KeyAction],
        subjects: &[&str],
        expires_at: Option<i64>,
    ) -> ApiKeyRow {
        ApiKeyRow {
            id: 1,
            user_id: 1,
            name: Some("ci\nBcc: evil@example.com".into()),
            kind,
            lookup_id: "lookup".into(),
            secret_hash: "hash".into(),
            actions: actions.to_vec(),
            subjects: subjects.iter().map(|s| s.to_string()).collect(),
            created_at: 0,
            expires_at,
            lifetime_secs: None,
            revoked_at: None,
            last_used_at: None,
            owner_id: None,
            owner_name: None,
            provenance: None,
        }
    }

    #[test]
    fn key_created_lists_everything_but_secrets() {
        let k = key(
            KeyKind::Scoped,
            &[KeyAction::Push, KeyAction::Unlist],
            &["Contoso.Lib", "Contoso.*"],
            Some(86_400),
        );
        let mail = key_created(&ctx(), &user(), &k);
        assert_eq!(mail.subject, "[nugate] API key added to your account");
        assert_eq!(mail.to, "alice@example.com");
        for needle in [
            "ci Bcc: evil@example.com",
            "Package owner: alice",
            "Push new packages and package versions",
            "Unlist or relist package versions",
            "Packages:\n  - Contoso.Lib",
            "Glob patterns:\n  - Contoso.*",
            "Expires: 1970-01-02 00:00 UTC",
            "If you did not request this change",
            "https://feed.example/account/apikeys",
        ] {
            assert!(
                mail.body.contains(needle),
                "missing {needle:?} in {}",
                mail.body
            );
        }
        assert!(!mail.body.contains("hash") && !mail.body.contains("lookup"));
    }

    #[test]
    fn legacy_and_revoked_wording() {
        let k = key(KeyKind::Legacy, &[KeyAction::All], &["*"], None);
        let mail = key_deleted(&ctx(), &user(), &k);
        assert_eq!(mail.subject, "[nugate] API key removed from your account");
        assert!(mail.body.contains("never expires if used every 365 days"));
        assert!(mail.body.contains("  - Full access (legacy key)"));
        assert!(
            !mail.body.contains("Glob") && !mail.body.contains("  - *"),
            "a legacy key lists no glob: {}",
            mail.body
        );
        let mail = key_revoked(&ctx(), &user(), &k);
        assert_eq!(
            mail.subject,
            "[nugate] API Key 'ci Bcc: evil@example.com' Revoked"
        );
    }

    #[test]
    fn expiry_lists() {
        let mail = keys_expiring(&ctx(), &user(), &[("a".into(), 3), ("b".into(), 1)]);
        assert_eq!(mail.subject, "[nugate] Your API key is about to expire");
        assert!(mail
            .body
            .contains("a - expires in 3 day(s).\nb - expires in 1 day(s).\n"));
        let mail = keys_expired(&ctx(), &user(), &["a".into()]);
        assert_eq!(mail.subject, "[nugate] Your API key has expired");
        assert!(mail.body.contains("a - has expired.\n"));
    }
}
