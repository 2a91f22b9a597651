//! The outbox behind `Auth`: retries, give-up, shutdown, and what each outcome logs.

use super::*;

/// Every log line of this test binary, formatted without colours. Global, as the
/// outbox's sender threads log there too; each test picks its own lines by a marker.
pub(super) fn log_lines() -> &'static std::sync::Arc<std::sync::Mutex<Vec<u8>>> {
    static LINES: std::sync::OnceLock<std::sync::Arc<std::sync::Mutex<Vec<u8>>>> =
        std::sync::OnceLock::new();
    LINES.get_or_init(|| {
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let writer = lines.clone();
        let _ = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || Capture(writer.clone()))
            .try_init();
        lines
    })
}

struct Capture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Refuses every mail as a server does an unknown recipient.
struct RefusesRecipients;

impl crate::MailTransport for RefusesRecipients {
    fn send(&self, _: &Mail) -> Result<(), crate::SendError> {
        Err(crate::SendError::Permanent(
            "550 5.1.1 no such mailbox (marker-8e1f)".into(),
        ))
    }
}

/// Issue 17 item 7: a client chooses the address, so a relay refusing it is the client's
/// doing, not authd's: WARN, never ERROR.
#[test]
fn a_mail_refused_for_its_recipient_is_not_logged_as_an_error() {
    let lines = log_lines();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("authd.db").display());
    let outbox = crate::Outbox::start(RefusesRecipients, crate::OutboxOptions::default());
    let config = crate::AuthConfig::default()
        .with_bcrypt_cost(4)
        .with_mail(Some(MailConfig::new(outbox, "https://authd.test")));
    let auth = Auth::open(&url, config).unwrap();
    auth.register_user("bob@x.io", "pw").unwrap();
    auth.request_password_reset("bob@x.io").unwrap();
    let outbox = auth.outbox().unwrap();
    assert!(outbox.wait_idle(std::time::Duration::from_secs(10)));
    assert_eq!(outbox.stats().failed, 1);
    let log = String::from_utf8_lossy(&lines.lock().unwrap()).into_owned();
    let ours: Vec<&str> = log.lines().filter(|l| l.contains("marker-8e1f")).collect();
    assert!(!ours.is_empty(), "no line about the refusal: {log}");
    for line in ours {
        assert!(!line.contains("ERROR"), "{line}");
    }
}

/// Fails the first `failures` tries with `error`, then delivers; counts the tries.
struct Flaky {
    failures: usize,
    error: crate::SendError,
    tries: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl crate::MailTransport for Flaky {
    fn send(&self, _: &Mail) -> Result<(), crate::SendError> {
        let try_number = self.tries.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if try_number < self.failures {
            Err(self.error.clone())
        } else {
            Ok(())
        }
    }
}

/// An `Auth` on a fresh SQLite file mailing through `transport` with quick retries
/// (changed by `tune`), with bob@x.io registered; and the folder to keep alive.
fn mailing(
    transport: impl crate::MailTransport,
    tune: impl FnOnce(&mut crate::OutboxOptions),
) -> (Auth, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("authd.db").display());
    let mut options = crate::OutboxOptions {
        first_retry: std::time::Duration::from_millis(5),
        max_retry: std::time::Duration::from_millis(20),
        ..crate::OutboxOptions::default()
    };
    tune(&mut options);
    let outbox = crate::Outbox::start(transport, options);
    let config = crate::AuthConfig::default()
        .with_bcrypt_cost(4)
        .with_mail(Some(MailConfig::new(outbox, "https://authd.test")));
    let auth = Auth::open(&url, config).unwrap();
    auth.register_user("bob@x.io", "pw").unwrap();
    (auth, dir)
}

fn flaky(
    failures: usize,
    error: crate::SendError,
) -> (Flaky, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let tries = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let transport = Flaky {
        failures,
        error,
        tries: tries.clone(),
    };
    (transport, tries)
}

const WAIT: std::time::Duration = std::time::Duration::from_secs(10);

#[test]
fn temporary_failures_are_retried_until_the_mail_goes() {
    let (transport, tries) = flaky(3, crate::SendError::Transient("421".into()));
    let (auth, _dir) = mailing(transport, |_| {});
    auth.request_password_reset("bob@x.io").unwrap();
    let outbox = auth.outbox().unwrap();
    assert!(outbox.wait_idle(WAIT));
    assert_eq!(tries.load(std::sync::atomic::Ordering::SeqCst), 4);
    let stats = outbox.stats();
    assert_eq!((stats.sent, stats.retried, stats.failed), (1, 3, 0));
}

#[test]
fn a_permanent_failure_is_not_retried() {
    let (transport, tries) = flaky(1, crate::SendError::Permanent("550".into()));
    let (auth, _dir) = mailing(transport, |_| {});
    auth.request_password_reset("bob@x.io").unwrap();
    let outbox = auth.outbox().unwrap();
    assert!(outbox.wait_idle(WAIT));
    assert_eq!(tries.load(std::sync::atomic::Ordering::SeqCst), 1);
    let stats = outbox.stats();
    assert_eq!((stats.sent, stats.retried, stats.failed), (0, 0, 1));
}

#[test]
fn a_mail_failing_for_longer_than_the_give_up_time_is_given_up() {
    let (transport, _) = flaky(usize::MAX, crate::SendError::Transient("down".into()));
    let (auth, _dir) = mailing(transport, |options| {
        options.give_up_after = std::time::Duration::from_millis(50);
    });
    auth.request_password_reset("bob@x.io").unwrap();
    let outbox = auth.outbox().unwrap();
    assert!(outbox.wait_idle(WAIT));
    let stats = outbox.stats();
    assert_eq!((stats.sent, stats.failed, stats.waiting), (0, 1, 0));
    assert!(stats.retried >= 1);
}

/// Issue 17: a certificate or login problem is the configuration's: one ERROR line for the
/// cause, not a WARN at every retry for half an hour.
#[test]
fn a_configuration_error_is_logged_once_at_error_and_not_at_every_retry() {
    let lines = log_lines();
    let why = "certificate: unknown issuer (marker-5c2a)";
    let (transport, tries) = flaky(usize::MAX, crate::SendError::Configuration(why.into()));
    let (auth, _dir) = mailing(transport, |_| {});
    auth.request_password_reset("bob@x.io").unwrap();
    let outbox = auth.outbox().unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    while outbox.stats().retried < 5 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(tries.load(std::sync::atomic::Ordering::SeqCst) >= 5);
    outbox.shutdown(WAIT);
    let log = String::from_utf8_lossy(&lines.lock().unwrap()).into_owned();
    let ours: Vec<&str> = log.lines().filter(|l| l.contains("marker-5c2a")).collect();
    let errors = ours.iter().filter(|l| l.contains("ERROR")).count();
    let warnings = ours.iter().filter(|l| l.contains(" WARN ")).count();
    assert_eq!((errors, warnings), (1, 0), "{ours:#?}");
    assert_eq!(
        outbox.stats().waiting,
        1,
        "the mail waits for a fixed setting"
    );
}

#[test]
fn a_shutdown_stops_the_senders_and_says_how_much_mail_waits() {
    let lines = log_lines();
    let (transport, tries) = flaky(usize::MAX, crate::SendError::Transient("down".into()));
    let (auth, _dir) = mailing(transport, |options| {
        options.first_retry = std::time::Duration::from_millis(1);
    });
    auth.request_password_reset("bob@x.io").unwrap();
    let outbox = auth.outbox().unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    while outbox.stats().retried < 2 {
        assert!(std::time::Instant::now() < deadline, "{:?}", outbox.stats());
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let report =
        tracing::info_span!("shutdown", marker = "marker-77d0").in_scope(|| outbox.shutdown(WAIT));
    assert_eq!((report.unfinished, report.waiting), (0, 1), "{report:?}");
    let after = tries.load(std::sync::atomic::Ordering::SeqCst);
    std::thread::sleep(std::time::Duration::from_millis(50));
    assert_eq!(
        tries.load(std::sync::atomic::Ordering::SeqCst),
        after,
        "still sending"
    );
    let log = String::from_utf8_lossy(&lines.lock().unwrap()).into_owned();
    let stopped: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("marker-77d0") && l.contains("mail outbox stopped"))
        .collect();
    assert_eq!(stopped.len(), 1, "{log}");
    assert!(
        stopped[0].contains(" INFO ") && stopped[0].contains("1 mail(s) wait in the database"),
        "{}",
        stopped[0]
    );
}

/// A mail claimed when the shutdown begins, before its send started, is handed back
/// unclaimed (and never sent by this instance).
#[test]
fn a_mail_claimed_as_the_shutdown_begins_is_handed_back() {
    let (transport, tries) = flaky(0, crate::SendError::Transient(String::new()));
    let (auth, _dir) = mailing(transport, |options| options.senders = 1);
    let outbox = auth.outbox().unwrap().clone();
    let (claimed, at_claim) = std::sync::mpsc::channel();
    let (go, gate) = std::sync::mpsc::channel::<()>();
    let gate = std::sync::Mutex::new(gate);
    outbox.after_claim(move || {
        let _ = claimed.send(());
        let _ = gate.lock().unwrap().recv_timeout(WAIT);
    });
    auth.request_password_reset("bob@x.io").unwrap();
    at_claim
        .recv_timeout(WAIT)
        .expect("the sender claims the mail");
    let stopping = outbox.clone();
    let shutdown = std::thread::spawn(move || stopping.shutdown(WAIT));
    let deadline = std::time::Instant::now() + WAIT;
    while !outbox.is_closing() {
        assert!(
            std::time::Instant::now() < deadline,
            "the shutdown did not begin"
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    go.send(()).unwrap();
    let report = shutdown.join().unwrap();
    assert_eq!(
        (report.handed_back, report.unfinished, report.waiting),
        (1, 0, 1),
        "{report:?}"
    );
    assert_eq!(tries.load(std::sync::atomic::Ordering::SeqCst), 0);
    let row = &auth.db.due_mails(i64::MAX, 10).unwrap()[0];
    assert_eq!((row.claimed_by.as_deref(), row.tries), (None, 0));
}
