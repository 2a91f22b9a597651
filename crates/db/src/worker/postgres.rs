//! A thread's own PostgreSQL connection: its state, the share one check holds, and how it is
//! opened (TLS as libpq's `sslmode` says). A tokio-postgres client with the session check and
//! the record of use prepared once per connection; their SQL is diesel's own rendering of the
//! typed queries (`session_check.rs`), so the schema has one description.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio_postgres::{Client, Row, Statement};
use user_model::{Session, User};

use crate::connection::PgTarget;
use crate::error::{BackendError, DbError};
use crate::session_query::Alive;

/// A failed attempt is not repeated on the same thread for this long: checks meanwhile take
/// the pool's way (which answers 503 quickly when the database is down).
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// An open connection, its prepared statements, and how many checks use it now.
pub(crate) struct PgConn {
    client: Client,
    lookup: Statement,
    touch: Statement,
    in_flight: AtomicUsize,
    broken: AtomicBool,
}

/// A thread's connection for one `Db`, or where it is in getting one.
pub(crate) enum PgSlot {
    Idle,
    /// A check on this thread is connecting (since then).
    Connecting(Instant),
    Ready(Arc<PgConn>),
    Failed {
        at: Instant,
        why: String,
    },
}

/// What a check does next.
pub(crate) enum Step {
    Leased(Lease),
    /// Connect, then call [`PgSlot::connected`].
    Connect,
    /// Take the pool's way.
    Elsewhere,
}

impl PgSlot {
    /// A share of the connection if it has room; `Connect` when there is none to share (or
    /// it broke, or a connection attempt was abandoned: older than `stale`).
    pub(crate) fn lease(&mut self, most: usize, stale: Duration) -> Step {
        match self {
            PgSlot::Ready(conn) if !conn.broken.load(Ordering::Relaxed) => {
                if conn.in_flight.load(Ordering::Relaxed) < most {
                    Step::Leased(Lease::new(Arc::clone(conn)))
                } else {
                    Step::Elsewhere
                }
            }
            PgSlot::Connecting(since) if since.elapsed() < stale => Step::Elsewhere,
            PgSlot::Failed { at, .. } if at.elapsed() < RETRY_AFTER => Step::Elsewhere,
            _ => {
                *self = PgSlot::Connecting(Instant::now());
                Step::Connect
            }
        }
    }

    /// Keeps what a connection attempt gave, and a share of it for the check that made it.
    pub(crate) fn connected(&mut self, result: Result<PgConn, String>) -> Option<Lease> {
        match result {
            Ok(conn) => {
                let conn = Arc::new(conn);
                *self = PgSlot::Ready(Arc::clone(&conn));
                Some(Lease::new(conn))
            }
            Err(why) => {
                if !matches!(self, PgSlot::Failed { .. }) {
                    tracing::warn!(target: "authd::db::worker::postgres",
                        error = why.as_str(),
                        "the session check's own database connection failed; \
                         checks use the pool meanwhile"
                    );
                }
                *self = PgSlot::Failed {
                    at: Instant::now(),
                    why,
                };
                None
            }
        }
    }

    /// Why the last connection attempt failed, while its retry waits.
    pub(crate) fn failure(&self) -> Option<String> {
        match self {
            PgSlot::Failed { at, why } if at.elapsed() < RETRY_AFTER => Some(why.clone()),
            _ => None,
        }
    }
}

/// One check's share of a thread's connection; counted while held.
pub(crate) struct Lease(Arc<PgConn>);

impl Lease {
    fn new(conn: Arc<PgConn>) -> Self {
        conn.in_flight.fetch_add(1, Ordering::Relaxed);
        Lease(conn)
    }

    /// The live session of `token_digest` with its user (`Db::find_session`'s query). Checks
    /// of several requests at once are pipelined on the connection.
    pub(crate) async fn find_session(
        &self,
        token_digest: &str,
        alive: Alive,
    ) -> Result<Option<(User, Session)>, tokio_postgres::Error> {
        let one: i64 = 1;
        let row = self
            .0
            .client
            .query_opt(
                &self.0.lookup,
                &[&token_digest, &alive.now, &alive.seen_after, &one],
            )
            .await?;
        row.as_ref().map(session_and_user).transpose()
    }

    /// Records a use of session `id` at `now` unless one was recorded in the last `every`
    /// seconds (`Db::touch_session`'s write, one statement: its own transaction).
    pub(crate) async fn touch_session(
        &self,
        id: i32,
        now: i64,
        every: i64,
    ) -> Result<bool, tokio_postgres::Error> {
        let older_than = now.saturating_sub(every);
        let written = self
            .0
            .client
            .execute(&self.0.touch, &[&now, &id, &older_than])
            .await?;
        Ok(written == 1)
    }

    /// Marks the connection dropped: the next check on the thread opens another.
    pub(crate) fn broke(&self) {
        self.0.broken.store(true, Ordering::Relaxed);
    }

    /// `SELECT 1` on the connection.
    pub(crate) async fn ping(&self) -> Result<(), DbError> {
        match self.0.client.simple_query("SELECT 1").await {
            Ok(_) => Ok(()),
            Err(error) => {
                self.broke();
                Err(DbError::Unavailable(BackendError::message(
                    error.to_string(),
                )))
            }
        }
    }
}

/// A row of the session check: the user's columns, then the session's, in the order of
/// `User::as_select()` and `Session::as_select()` (the order of their fields).
fn session_and_user(row: &Row) -> Result<(User, Session), tokio_postgres::Error> {
    let mut user = User::new(row.try_get(0)?, row.try_get(1)?, row.try_get(2)?)
        .with_session_digest(row.try_get(3)?)
        .with_reset_digest(row.try_get(4)?)
        .with_verify_digest(row.try_get(10)?);
    user.session_expires_at = row.try_get(5)?;
    user.reset_expires_at = row.try_get(6)?;
    user.failed_logins = row.try_get(7)?;
    user.failed_window_start = row.try_get(8)?;
    user.email_verified_at = row.try_get(9)?;
    user.verify_expires_at = row.try_get(11)?;
    user.created_at = row.try_get(12)?;
    user.disabled_at = row.try_get(13)?;
    let session = Session {
        id: row.try_get(14)?,
        public_id: row.try_get(15)?,
        token_digest: row.try_get(16)?,
        user_id: row.try_get(17)?,
        created_at: row.try_get(18)?,
        last_seen_at: row.try_get(19)?,
        expires_at: row.try_get(20)?,
        user_agent: row.try_get(21)?,
        ip: row.try_get(22)?,
    };
    Ok((user, session))
}

/// What a failed query on the thread's connection means: `None` when the connection itself
/// failed (closed, reset, the server shut it): the query may run again on the pool.
pub(crate) fn db_error(error: tokio_postgres::Error) -> Option<DbError> {
    use tokio_postgres::error::SqlState;
    // No SQL state: no answer from the server (an I/O error on the socket).
    let code = error.code()?.clone();
    if error.is_closed() || code.code().starts_with("57P") {
        return None;
    }
    let backend = BackendError::message(error.to_string());
    Some(match code {
        SqlState::QUERY_CANCELED => DbError::TimedOut(backend),
        SqlState::DISK_FULL => DbError::StorageFull(backend),
        _ => DbError::Query(backend),
    })
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Opens a connection as `target` says, sets it up as the pool's are, and prepares the
/// session check and the record of use.
pub(crate) async fn connect(target: &PgTarget) -> Result<PgConn, String> {
    let client = if target.encrypt {
        let (client, connection) = target
            .config
            .connect(encrypting_connector()?)
            .await
            .map_err(|e| e.to_string())?;
        // Driven by this thread's runtime; it ends when the client is dropped.
        tokio::spawn(async move {
            let _ = connection.await;
        });
        client
    } else {
        let (client, connection) = target
            .config
            .connect(tokio_postgres::NoTls)
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        client
    };
    if !target.setup.is_empty() {
        client
            .batch_execute(&target.setup)
            .await
            .map_err(|e| e.to_string())?;
    }
    let lookup = client
        .prepare(&crate::session_query::lookup_sql())
        .await
        .map_err(|e| e.to_string())?;
    let touch = client
        .prepare(&crate::session_query::touch_sql())
        .await
        .map_err(|e| e.to_string())?;
    Ok(PgConn {
        client,
        lookup,
        touch,
        in_flight: AtomicUsize::new(0),
        broken: AtomicBool::new(false),
    })
}

/// TLS as libpq's `sslmode=prefer` and `require` do without a root certificate: the
/// connection is encrypted and the handshake's signatures are checked, the certificate chain
/// is not (a URL that asks for that, `verify-ca` or `verify-full`, takes the pool's way).
fn encrypting_connector() -> Result<tokio_postgres_rustls::MakeRustlsConnect, String> {
    // ring, as lettre's SMTP TLS uses (no second crypto library to build). rustls 0.23.48
    // deprecates this constructor because ring has no post-quantum key exchange: the
    // connection uses a classical one (X25519 or ECDHE), as libpq with OpenSSL 3.0 does.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(EncryptOnly(Arc::clone(&provider)));
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// libpq's `require`: accepts the server's certificate, checks its handshake signatures.
#[derive(Debug)]
struct EncryptOnly(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
