//! The durable outbox (`mail_outbox`): mail waiting to be sent, one row per mail, shared by
//! every instance on the database and kept across restarts. A row says what to send to whom,
//! never a body or a token. One instance at a time sends a row: it claims it first, in a write
//! that names the version it read, for a while (a lease), so the claim of a crashed instance
//! runs out and another takes the row. Every write here names what it read.

use std::fmt;

use diesel::prelude::*;
use diesel::result::Error as DieselError;
use user_model::schema::{mail_outbox, users};
use user_model::{MailLimit, UserId};

use crate::connection::AnyConnection;
use crate::error::DbError;
use crate::handle::{Db, Record};
use crate::mail::{apply_grant, write_limit, TokenGrant};

/// PostgreSQL advisory lock that queues take, so the size bound holds across instances (on
/// SQLite, `BEGIN IMMEDIATE` already serialises writers). Any constant nothing else uses.
#[cfg(feature = "postgres")]
const POSTGRES_OUTBOX_LOCK: i64 = 0x6175_7468_646d; // "authdm"

/// A mail to queue: what and to whom.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Insertable)]
#[diesel(table_name = mail_outbox)]
pub struct NewOutboxMail<'a> {
    /// `password_reset`, `password_changed` or `email_verification`.
    pub kind: &'a str,
    /// The normalised address the mail goes to.
    pub recipient: &'a str,
    /// The account, when the caller knows it.
    pub user_id: Option<UserId>,
    /// Unix seconds (the caller's clock) when the mail was asked for.
    pub created_at: i64,
    /// Unix milliseconds from when it may be tried.
    pub due_at: i64,
}

/// One row of `mail_outbox`, as read. `Debug` leaves out the recipient.
#[derive(Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = mail_outbox)]
pub struct OutboxMail {
    /// The row's key.
    pub id: i64,
    /// `password_reset`, `password_changed` or `email_verification`.
    pub kind: String,
    /// The normalised address the mail goes to.
    pub recipient: String,
    /// The account, when it was known at queueing.
    pub user_id: Option<UserId>,
    /// Unix seconds when the mail was asked for.
    pub created_at: i64,
    /// Unix milliseconds from when it may be tried.
    pub due_at: i64,
    /// Tries so far.
    pub tries: i32,
    /// Unix milliseconds of the first try.
    pub first_try_at: Option<i64>,
    /// The instance that claimed it.
    pub claimed_by: Option<String>,
    /// Unix milliseconds until which that claim holds.
    pub claimed_until: Option<i64>,
    /// Goes up on every write.
    pub version: i64,
}

impl fmt::Debug for OutboxMail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutboxMail")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("user_id", &self.user_id)
            .field("due_at", &self.due_at)
            .field("tries", &self.tries)
            .field("claimed_by", &self.claimed_by)
            .field("claimed_until", &self.claimed_until)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// A count for the per-address mail limits, written with a queued mail: `state`, provided
/// the stored row is still the one read (absent when `read_version` is `None`).
#[derive(Debug, Clone, Copy)]
pub struct LimitCount<'a> {
    /// The row after this mail.
    pub state: &'a MailLimit,
    /// The version read (`None`: there was no row).
    pub read_version: Option<i64>,
}

impl Db {
    /// Queues `mail`, provided fewer than `capacity` mails wait, and in the same transaction
    /// writes `limit` (the per-address count this mail spends). Returns the new row's id, or
    /// `None` when the outbox is full: then nothing is written, the count neither, so a mail
    /// that was not queued spends no allowance.
    ///
    /// On an audited handle the event is recorded only with a queued mail, for the account
    /// `mail` names or, when it names none, the account whose address is the recipient (read
    /// in the same transaction); for an address no account has, nothing is recorded.
    ///
    /// Errors: `Conflict` when the limit row changed since it was read (read it again).
    pub fn queue_mail(
        &self,
        mail: &NewOutboxMail<'_>,
        limit: Option<LimitCount<'_>>,
        capacity: u64,
    ) -> Result<Option<i64>, DbError> {
        let capacity = i64::try_from(capacity).unwrap_or(i64::MAX);
        // An audited event (a reset asked for) is recorded only with the mail it queued, and
        // only for an account: one the caller names, or the one whose address the mail goes
        // to, read in this transaction (the same statements for every address).
        let find_account = self.audit.is_some() && mail.user_id.is_none();
        let queued = |outcome: &Result<(Option<i64>, Option<UserId>), DbError>| match outcome {
            Ok((Some(_), Some(account))) => Record::ForUser(*account),
            Ok((Some(_), None)) if !find_account => Record::Event,
            _ => Record::Nothing,
        };
        let written = self.write_for(
            |conn| {
                lock_outbox(conn)?;
                let waiting: i64 = mail_outbox::table.count().get_result(conn)?;
                if waiting >= capacity {
                    return Ok(Ok((None, None)));
                }
                if let Some(limit) = limit {
                    if write_limit(conn, limit.state, limit.read_version)? != 1 {
                        return Ok(Err(DbError::Conflict));
                    }
                }
                let id = diesel::insert_into(mail_outbox::table)
                    .values(mail)
                    .returning(mail_outbox::id)
                    .get_result(conn)?;
                let account = if find_account {
                    users::table
                        .filter(users::email.eq(mail.recipient))
                        .select(users::id)
                        .first(conn)
                        .optional()?
                } else {
                    None
                };
                Ok(Ok((Some(id), account)))
            },
            queued,
        );
        match written {
            Ok(outcome) => outcome.map(|(id, _)| id),
            Err(DbError::Query(e)) if e.is_unique_violation() => Err(DbError::Conflict),
            Err(e) => Err(e),
        }
    }

    /// How many mails wait (queued, waiting for a retry, or being sent), on every instance.
    pub fn waiting_mails(&self) -> Result<u64, DbError> {
        let count: i64 = self.read(|conn| mail_outbox::table.count().get_result(conn))?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// Up to `max` mails due at `now_ms` that no live claim holds, the longest due first.
    pub fn due_mails(&self, now_ms: i64, max: i64) -> Result<Vec<OutboxMail>, DbError> {
        self.read(|conn| {
            mail_outbox::table
                .filter(mail_outbox::due_at.le(now_ms))
                .filter(
                    mail_outbox::claimed_until
                        .is_null()
                        .or(mail_outbox::claimed_until.lt(now_ms)),
                )
                .order((mail_outbox::due_at, mail_outbox::id))
                .limit(max)
                .select(OutboxMail::as_select())
                .load(conn)
        })
    }

    /// When the next mail no claim holds falls due (Unix ms), if any mail waits unclaimed.
    pub fn next_mail_due(&self) -> Result<Option<i64>, DbError> {
        self.read(|conn| {
            mail_outbox::table
                .filter(mail_outbox::claimed_by.is_null())
                .select(diesel::dsl::min(mail_outbox::due_at))
                .first(conn)
        })
    }

    /// Claims `mail` (as read) for `instance` until `until_ms`, and in the same transaction
    /// applies `grant` (the token the mail will carry) provided its user is still as read.
    /// Returns the row as claimed.
    ///
    /// Errors: `Conflict` when another write to the row came first (another instance claimed
    /// it, or it was sent); `NoResultFound` when the grant's user is gone or changed (nothing
    /// is written: read again).
    pub fn claim_mail(
        &self,
        mail: &OutboxMail,
        instance: &str,
        until_ms: i64,
        grant: Option<TokenGrant<'_>>,
    ) -> Result<OutboxMail, DbError> {
        self.write(|conn| {
            let claimed = diesel::update(
                mail_outbox::table
                    .find(mail.id)
                    .filter(mail_outbox::version.eq(mail.version)),
            )
            .set((
                mail_outbox::claimed_by.eq(Some(instance)),
                mail_outbox::claimed_until.eq(Some(until_ms)),
                mail_outbox::version.eq(mail.version + 1),
            ))
            .returning(mail_outbox::all_columns)
            .get_result::<OutboxMail>(conn)
            .optional()?;
            let Some(claimed) = claimed else {
                return Ok(Err(DbError::Conflict));
            };
            if let Some(grant) = grant {
                if apply_grant(conn, grant)? != 1 {
                    // Undo the claim too: the user this mail was for is not as read.
                    return Err(DieselError::NotFound);
                }
            }
            Ok(Ok(claimed))
        })?
    }

    /// Deletes `mail` (sent, given up, or nothing to send), provided it is still as read.
    /// False when another write came first.
    pub fn finish_mail(&self, mail: &OutboxMail) -> Result<bool, DbError> {
        let deleted = self.write(|conn| {
            diesel::delete(
                mail_outbox::table
                    .find(mail.id)
                    .filter(mail_outbox::version.eq(mail.version)),
            )
            .execute(conn)
        })?;
        Ok(deleted == 1)
    }

    /// Hands `mail` back unclaimed, due at `due_ms`, with `mail.tries` and
    /// `mail.first_try_at` as given, provided the stored row is still at `mail.version`. False
    /// when another write came first.
    pub fn reschedule_mail(&self, mail: &OutboxMail, due_ms: i64) -> Result<bool, DbError> {
        let updated = self.write(|conn| {
            diesel::update(
                mail_outbox::table
                    .find(mail.id)
                    .filter(mail_outbox::version.eq(mail.version)),
            )
            .set((
                mail_outbox::due_at.eq(due_ms),
                mail_outbox::tries.eq(mail.tries),
                mail_outbox::first_try_at.eq(mail.first_try_at),
                mail_outbox::claimed_by.eq(None::<String>),
                mail_outbox::claimed_until.eq(None::<i64>),
                mail_outbox::version.eq(mail.version + 1),
            ))
            .execute(conn)
        })?;
        Ok(updated == 1)
    }
}

/// Serialises queueing on PostgreSQL for the rest of the transaction (see
/// [`POSTGRES_OUTBOX_LOCK`]).
fn lock_outbox(conn: &mut AnyConnection) -> diesel::QueryResult<()> {
    match conn {
        #[cfg(feature = "sqlite")]
        AnyConnection::Sqlite(_) => Ok(()),
        #[cfg(feature = "postgres")]
        AnyConnection::Postgresql(conn) => {
            use diesel::connection::SimpleConnection;
            conn.batch_execute(&format!(
                "SELECT pg_advisory_xact_lock({POSTGRES_OUTBOX_LOCK})"
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filter::UserFilter;
    use crate::testing::{on_each_backend, TEST_HASH as HASH};

    fn reset_to(recipient: &str) -> NewOutboxMail<'_> {
        NewOutboxMail {
            kind: "password_reset",
            recipient,
            user_id: None,
            created_at: 1,
            due_at: 1000,
        }
    }

    fn limit(key: &str, version: i64) -> MailLimit {
        MailLimit {
            key_digest: key.into(),
            sent_at: "1".into(),
            last_sent_at: 1,
            version,
        }
    }

    #[test]
    fn a_full_outbox_queues_nothing_and_counts_nothing() {
        on_each_backend(|db| {
            let state = limit("a", 1);
            let count = LimitCount {
                state: &state,
                read_version: None,
            };
            assert!(db
                .queue_mail(&reset_to("a@x.io"), Some(count), 2)
                .unwrap()
                .is_some());
            let state = limit("b", 1);
            let count = LimitCount {
                state: &state,
                read_version: None,
            };
            assert!(db
                .queue_mail(&reset_to("b@x.io"), Some(count), 2)
                .unwrap()
                .is_some());
            let state = limit("c", 1);
            let count = LimitCount {
                state: &state,
                read_version: None,
            };
            assert_eq!(
                db.queue_mail(&reset_to("c@x.io"), Some(count), 2).unwrap(),
                None
            );
            assert_eq!(db.find_mail_limit("c").unwrap(), None);
            assert_eq!(db.waiting_mails().unwrap(), 2);
        });
    }

    #[test]
    fn a_count_from_a_stale_read_queues_nothing() {
        on_each_backend(|db| {
            let first = limit("a", 1);
            let count = LimitCount {
                state: &first,
                read_version: None,
            };
            db.queue_mail(&reset_to("a@x.io"), Some(count), 10).unwrap();
            let stale = LimitCount {
                state: &first,
                read_version: None,
            };
            assert!(matches!(
                db.queue_mail(&reset_to("a@x.io"), Some(stale), 10),
                Err(DbError::Conflict)
            ));
            let second = limit("a", 2);
            let old_version = LimitCount {
                state: &second,
                read_version: Some(0),
            };
            assert!(matches!(
                db.queue_mail(&reset_to("a@x.io"), Some(old_version), 10),
                Err(DbError::Conflict)
            ));
            assert_eq!(db.waiting_mails().unwrap(), 1);
        });
    }

    #[test]
    fn a_mail_is_claimed_once_and_a_lapsed_claim_can_be_taken_over() {
        on_each_backend(|db| {
            db.queue_mail(&reset_to("a@x.io"), None, 10).unwrap();
            assert!(db.due_mails(999, 10).unwrap().is_empty(), "not due yet");
            let read = db.due_mails(1000, 10).unwrap();
            assert_eq!(read.len(), 1);
            let mine = db.claim_mail(&read[0], "one", 5000, None).unwrap();
            assert_eq!(mine.claimed_by.as_deref(), Some("one"));
            // A second instance that read the same row loses.
            assert!(matches!(
                db.claim_mail(&read[0], "two", 5000, None),
                Err(DbError::Conflict)
            ));
            assert!(db.due_mails(4999, 10).unwrap().is_empty(), "claimed");
            // "one" crashed: once its claim lapses, "two" takes the row, and "one" can no
            // longer finish it.
            let lapsed = db.due_mails(5001, 10).unwrap();
            let theirs = db.claim_mail(&lapsed[0], "two", 9000, None).unwrap();
            assert!(!db.finish_mail(&mine).unwrap());
            assert!(db.finish_mail(&theirs).unwrap());
            assert_eq!(db.waiting_mails().unwrap(), 0);
        });
    }

    #[test]
    fn a_rescheduled_mail_is_unclaimed_and_due_later() {
        on_each_backend(|db| {
            db.queue_mail(&reset_to("a@x.io"), None, 10).unwrap();
            let read = db.due_mails(1000, 10).unwrap();
            let mut claimed = db.claim_mail(&read[0], "one", 5000, None).unwrap();
            claimed.tries = 1;
            claimed.first_try_at = Some(1000);
            assert!(db.reschedule_mail(&claimed, 3000).unwrap());
            assert!(
                !db.reschedule_mail(&claimed, 3000).unwrap(),
                "as read no more"
            );
            assert_eq!(db.next_mail_due().unwrap(), Some(3000));
            assert!(db.due_mails(2999, 10).unwrap().is_empty());
            let again = db.due_mails(3000, 10).unwrap();
            assert_eq!((again[0].tries, again[0].first_try_at), (1, Some(1000)));
            assert_eq!(again[0].claimed_by, None);
        });
    }

    #[test]
    fn a_claim_whose_grant_finds_the_user_changed_writes_nothing() {
        on_each_backend(|db| {
            let user = db.add_user("a@x.io", HASH).unwrap();
            db.queue_mail(&reset_to("a@x.io"), None, 10).unwrap();
            let read = db.due_mails(1000, 10).unwrap();
            let grant = |email| TokenGrant::Reset {
                user_id: user.id,
                email,
                digest: "digest",
                expires_at: 500,
            };
            assert!(matches!(
                db.claim_mail(&read[0], "one", 5000, Some(grant("b@x.io"))),
                Err(DbError::NoResultFound)
            ));
            assert_eq!(db.due_mails(1000, 10).unwrap(), read, "not claimed");
            db.claim_mail(&read[0], "one", 5000, Some(grant("a@x.io")))
                .unwrap();
            let stored = db.find_user_by(&[UserFilter::Id(user.id)]).unwrap();
            assert_eq!(stored.reset_digest(), Some("digest"));
        });
    }
}
