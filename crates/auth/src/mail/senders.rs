//! The sender threads: claim the next due mail, send it, file the outcome, until closed.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use db::{Db, DbError};
use tracing::Span;

use super::claim::{Claim, Claimed, Compose};
use super::message::SendError;
use super::shared::{millis, now_ms, Shared};

/// For an instance without senders: counts the waiting mail every `poll_every`, until closed.
pub(super) fn count_until_closed(shared: &Shared, db: &Db) {
    let mut state = shared.lock();
    while !state.closing {
        drop(state);
        shared.recount(db);
        state = shared.lock();
        state = shared
            .changed
            .wait_timeout(state, shared.options.poll_every)
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .0;
    }
}

/// A sender thread: claims the next due mail, sends it, files the outcome, until closed.
pub(super) fn run(shared: &Shared, compose: &dyn Compose, db: &Db, index: usize) {
    let options = &shared.options;
    let mut failing_since: Option<Instant> = None;
    loop {
        let generation = {
            let state = shared.lock();
            if state.closing {
                break;
            }
            state.generation
        };
        match claim_next(shared, compose, db, index) {
            Ok(Some(claimed)) => {
                failing_since = None;
                deliver(shared, db, claimed);
                shared.recount(db);
                continue;
            }
            Ok(None) => failing_since = None,
            Err(error) => {
                // The database is away: say so once a minute, keep trying.
                let now = Instant::now();
                if failing_since.is_none_or(|since| now - since > Duration::from_secs(60)) {
                    failing_since = Some(now);
                    tracing::warn!(target: "authd::auth::mail::senders", %error, "mail outbox: cannot read the outbox");
                }
            }
        }
        shared.recount(db);
        // Nothing due: sleep until the next retry is due, mail is queued here, or the poll
        // interval for other instances' mail is up.
        let mut wait = options.poll_every;
        if let Ok(Some(due)) = db.next_mail_due() {
            let until = u64::try_from(due.saturating_sub(now_ms())).unwrap_or(0);
            wait = wait.min(Duration::from_millis(until));
        }
        let deadline = Instant::now() + wait;
        let mut state = shared.lock();
        while !state.closing && state.generation == generation {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            state = shared
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
    }
    let mut state = shared.lock();
    state.senders -= 1;
    drop(state);
    shared.changed.notify_all();
}

/// Claims a due mail, if there is one; `None` when nothing is due (or others took it all).
fn claim_next(
    shared: &Shared,
    compose: &dyn Compose,
    db: &Db,
    index: usize,
) -> Result<Option<Claimed>, DbError> {
    let options = &shared.options;
    let senders = options.senders.max(1);
    // A few candidates, each sender starting at its own, so that senders of one instance
    // rarely race for the same row.
    for _ in 0..3 {
        let now = now_ms();
        let rows = db.due_mails(now, i64::try_from(senders * 2).unwrap_or(64))?;
        if rows.is_empty() {
            return Ok(None);
        }
        let start = index % rows.len();
        for row in rows[start..].iter().chain(&rows[..start]) {
            if shared.lock().closing {
                return Ok(None);
            }
            let until = now.saturating_add(millis(options.claim_for));
            match compose.claim(row, &shared.instance, until)? {
                Claim::Ready(claimed) => {
                    let claimed = *claimed;
                    #[cfg(test)]
                    {
                        let hook = shared.after_claim.lock().unwrap().clone();
                        if let Some(hook) = hook {
                            hook();
                        }
                    }
                    let mut state = shared.lock();
                    if state.closing {
                        // Claimed as the shutdown began: hand it back untouched.
                        drop(state);
                        if db.reschedule_mail(&claimed.row, claimed.row.due_at)? {
                            shared.counters.handed_back.fetch_add(1, Ordering::Relaxed);
                        }
                        return Ok(None);
                    }
                    state.sending += 1;
                    return Ok(Some(claimed));
                }
                Claim::Lost => continue,
                Claim::Dropped(reason) => {
                    tracing::debug!(target: "authd::auth::mail::senders",
                        event = "mail_not_sent",
                        kind = %row.kind,
                        mail_id = row.id,
                        reason,
                        "nothing to send"
                    );
                    continue;
                }
            }
        }
    }
    Ok(None)
}

/// Sends a claimed mail and files the outcome in the database, the counters and the log.
fn deliver(shared: &Shared, db: &Db, claimed: Claimed) {
    let Claimed { mut row, mail } = claimed;
    let span = shared
        .spans
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .remove(&row.id)
        .unwrap_or_else(Span::none);
    let _entered = span.enter();
    let kind = mail.kind.as_str();
    let now = now_ms();
    row.tries = row.tries.saturating_add(1);
    let first_try = *row.first_try_at.get_or_insert(now);
    let tries = u32::try_from(row.tries).unwrap_or(u32::MAX);
    // The address only at debug: at info, the request id, the mail's id and the kind say
    // enough.
    tracing::debug!(target: "authd::auth::mail::senders", kind, mail_id = row.id, to = %mail.to, tries, "mail try");
    let result = shared.transport.send(&mail);
    let counters = &shared.counters;
    let filed = match result {
        Ok(()) => {
            counters.sent.fetch_add(1, Ordering::Relaxed);
            *shared
                .reported
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
            tracing::info!(target: "authd::auth::mail::senders",
                event = "mail_sent",
                kind,
                mail_id = row.id,
                tries,
                outcome = "sent",
                "mail sent"
            );
            db.finish_mail(&row)
        }
        Err(SendError::Permanent(why)) => {
            counters.failed.fetch_add(1, Ordering::Relaxed);
            // The address was the client's choice: its refusal is not authd's fault.
            tracing::warn!(target: "authd::auth::mail::senders",
                event = "mail_failed",
                kind,
                mail_id = row.id,
                tries,
                outcome = "refused",
                error = %why,
                "mail refused"
            );
            db.finish_mail(&row)
        }
        Err(error) => {
            let configuration = matches!(error, SendError::Configuration(_));
            let why = error.cause().to_owned();
            let wait = shared.options.backoff(tries);
            let elapsed = now.saturating_sub(first_try);
            if elapsed.saturating_add(millis(wait)) > millis(shared.options.give_up_after) {
                counters.failed.fetch_add(1, Ordering::Relaxed);
                if configuration {
                    // The cause had its ERROR line already.
                    tracing::warn!(target: "authd::auth::mail::senders",
                        event = "mail_failed",
                        kind,
                        mail_id = row.id,
                        tries,
                        outcome = "gave_up",
                        error = %why,
                        "mail given up: the mail transport is misconfigured"
                    );
                } else {
                    tracing::error!(target: "authd::auth::mail::senders",
                        event = "mail_failed",
                        kind,
                        mail_id = row.id,
                        tries,
                        outcome = "gave_up",
                        error = %why,
                        "mail given up after temporary failures"
                    );
                }
                db.finish_mail(&row)
            } else {
                counters.retried.fetch_add(1, Ordering::Relaxed);
                let retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
                if configuration && first_report(shared, &why) {
                    tracing::error!(target: "authd::auth::mail::senders",
                        event = "mail_misconfigured",
                        kind,
                        mail_id = row.id,
                        tries,
                        outcome = "retry",
                        retry_in_ms,
                        error = %why,
                        "mail transport misconfigured: mail waits and is retried; fix the \
                         setting named here (this is logged once per cause)"
                    );
                } else if configuration {
                    tracing::debug!(target: "authd::auth::mail::senders",
                        event = "mail_retry",
                        kind,
                        mail_id = row.id,
                        tries,
                        outcome = "retry",
                        retry_in_ms,
                        error = %why,
                        "mail not sent (configuration), will retry"
                    );
                } else {
                    tracing::warn!(target: "authd::auth::mail::senders",
                        event = "mail_retry",
                        kind,
                        mail_id = row.id,
                        tries,
                        outcome = "retry",
                        retry_in_ms,
                        error = %why,
                        "mail not sent, will retry"
                    );
                }
                db.reschedule_mail(&row, now.saturating_add(millis(wait)))
            }
        }
    };
    match filed {
        Ok(true) => {}
        Ok(false) => tracing::warn!(target: "authd::auth::mail::senders",
            event = "mail_claim_lost",
            kind,
            mail_id = row.id,
            "the claim on this mail ran out while it was being sent: another instance may \
             send it again (raise claim_for above the longest send)"
        ),
        Err(error) => tracing::warn!(target: "authd::auth::mail::senders",
            event = "mail_claim_lost",
            kind,
            mail_id = row.id,
            %error,
            "could not file the outcome of this mail: its claim runs out and it may be \
             sent again"
        ),
    }
    let mut state = shared.lock();
    state.sending -= 1;
    if state.closing {
        shared
            .counters
            .finished_in_shutdown
            .fetch_add(1, Ordering::Relaxed);
    }
    state.generation += 1;
    drop(state);
    shared.changed.notify_all();
}

/// Whether `why` is a configuration error not yet logged at ERROR (and now marked as such).
fn first_report(shared: &Shared, why: &str) -> bool {
    let mut reported = shared
        .reported
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if reported.as_deref() == Some(why) {
        return false;
    }
    *reported = Some(why.to_owned());
    true
}
