//! Making a queued mail at send time: the outbox's sender claims the row through a
//! [`Composer`], which finds the account, makes the link's token and writes its digest in the
//! claiming write, and renders the words.
//!
//! Why make the token at claim time rather than keep the mail: the mail's body holds the
//! token, and the database must hold no token in clear (a stolen database resets no
//! password). The intent needs nothing secret. The price: each try of a mail (a retry after a
//! temporary failure) makes a fresh token and replaces the previous digest, so only the link
//! of the latest try works.

use std::sync::Arc;
use std::time::Duration;

use db::{Db, DbError, OutboxMail, TokenGrant, User, UserFilter};

use crate::clock::{secs, utc_minute, Clock};
use crate::config::MailConfig;
use crate::mail::claim::{Claim, Claimed, Compose};
use crate::mail::message::{Mail, MailKind};
use crate::mail::templates::{duration_words, Templates};
use crate::service::Auth;
use crate::token::{ResetToken, VerifyToken};

impl Auth {
    /// What the outbox's senders need to make mail: given to the outbox in `connect`.
    pub(crate) fn composer(&self, mail: &MailConfig) -> Arc<dyn Compose> {
        Arc::new(Composer {
            db: self.db.clone(),
            clock: self.config.clock.clone(),
            public_url: mail.public_url.clone(),
            site_name: mail.site_name.clone(),
            logo_url: mail.logo_url.clone().unwrap_or_default(),
            templates: mail.templates.clone(),
            reset_ttl: self.config.reset_ttl,
            verify_ttl: self.config.verify_ttl,
        })
    }
}

/// Turns a queued row into a mail for the outbox's senders: finds the account, makes the
/// token and claims the row with the token's digest in one write, renders the words.
struct Composer {
    db: Db,
    clock: Arc<dyn Clock>,
    public_url: String,
    site_name: String,
    /// Empty without a logo.
    logo_url: String,
    templates: Templates,
    reset_ttl: Duration,
    verify_ttl: Duration,
}

impl Composer {
    /// Deletes a row with nothing to send; `Lost` when another write came first.
    fn drop_row(&self, row: &OutboxMail, reason: &'static str) -> Result<Claim, DbError> {
        Ok(if self.db.finish_mail(row)? {
            Claim::Dropped(reason)
        } else {
            Claim::Lost
        })
    }

    /// The account a link goes to: by id when the row names one (still at the row's
    /// address), else by the address asked for.
    fn account(&self, row: &OutboxMail) -> Result<Option<User>, DbError> {
        let filter = match row.user_id {
            Some(id) => UserFilter::Id(id),
            None => UserFilter::Email(row.recipient.clone()),
        };
        match self.db.find_user_by(&[filter]) {
            Ok(user) if user.email == row.recipient => Ok(Some(user)),
            Ok(_) | Err(DbError::NoResultFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn link_mail(&self, kind: MailKind, user: &User, link: &str, expires_at: i64) -> Mail {
        let ttl = match kind {
            MailKind::EmailVerification => self.verify_ttl,
            _ => self.reset_ttl,
        };
        let (expires_in, expires_at) = (duration_words(ttl.as_secs()), utc_minute(expires_at));
        let values = [
            ("email", user.email.as_str()),
            ("public_url", self.public_url.as_str()),
            ("site_name", self.site_name.as_str()),
            ("logo_url", self.logo_url.as_str()),
            ("link", link),
            ("expires_in", expires_in.as_str()),
            ("expires_at", expires_at.as_str()),
        ];
        let (subject, text, html) = self.templates.render(kind, &values);
        Mail::new(kind, user.email.clone(), subject, text, html)
    }
}

impl Compose for Composer {
    fn claim(&self, row: &OutboxMail, instance: &str, until_ms: i64) -> Result<Claim, DbError> {
        let Some(kind) = MailKind::from_name(&row.kind) else {
            return self.drop_row(row, "unknown_kind");
        };
        let claim = |grant| match self.db.claim_mail(row, instance, until_ms, grant) {
            Ok(claimed) => Ok(Some(claimed)),
            // Another instance claimed it, or the account changed since it was read: leave
            // the row; the next round reads again.
            Err(DbError::Conflict | DbError::NoResultFound) => Ok(None),
            Err(e) => Err(e),
        };
        if kind == MailKind::PasswordChanged {
            let changed_at = utc_minute(row.created_at);
            let values = [
                ("email", row.recipient.as_str()),
                ("public_url", self.public_url.as_str()),
                ("site_name", self.site_name.as_str()),
                ("logo_url", self.logo_url.as_str()),
                ("changed_at", changed_at.as_str()),
            ];
            let (subject, text, html) = self.templates.render(kind, &values);
            let mail = Mail::new(kind, row.recipient.clone(), subject, text, html);
            return Ok(match claim(None)? {
                Some(row) => Claim::Ready(Box::new(Claimed { row, mail })),
                None => Claim::Lost,
            });
        }
        let Some(user) = self.account(row)? else {
            return self.drop_row(row, "no_account");
        };
        if user.disabled_at.is_some() {
            // Queued before the account was disabled: a disabled account is sent no link.
            return self.drop_row(row, "disabled");
        }
        let now = self.clock.now();
        // The token lives here and in the mail only; the database gets its digest.
        let (page, token, token_digest, ttl) = match kind {
            MailKind::EmailVerification => {
                if user.email_verified_at.is_some() {
                    return self.drop_row(row, "already_verified");
                }
                let token = VerifyToken::generate();
                let token_digest = token.digest();
                (
                    "verify",
                    token.expose().to_owned(),
                    token_digest,
                    self.verify_ttl,
                )
            }
            _ => {
                let token = ResetToken::generate();
                let token_digest = token.digest();
                (
                    "reset",
                    token.expose().to_owned(),
                    token_digest,
                    self.reset_ttl,
                )
            }
        };
        let expires_at = now.saturating_add(secs(ttl));
        let grant = if kind == MailKind::EmailVerification {
            TokenGrant::Verify {
                user_id: user.id,
                email: &user.email,
                digest: &token_digest,
                expires_at,
            }
        } else {
            TokenGrant::Reset {
                user_id: user.id,
                email: &user.email,
                digest: &token_digest,
                expires_at,
            }
        };
        let Some(claimed) = claim(Some(grant))? else {
            return Ok(Claim::Lost);
        };
        let link = format!("{}/{page}?token={token}", self.public_url);
        let mail = self.link_mail(kind, &user, &link, expires_at);
        Ok(Claim::Ready(Box::new(Claimed { row: claimed, mail })))
    }
}
