//! A thread's own PostgreSQL connection: its state, the share one check holds, and how it is
//! opened (TLS as libpq's `sslmode` says).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel_async::AsyncPgConnection;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

use crate::connection::PgTarget;
use crate::error::{BackendError, DbError};

/// A failed attempt is not repeated on the same thread for this long: checks meanwhile take
/// the pool's way (which answers 503 quickly when the database is down).
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// An open connection and how many checks use it now.
pub(crate) struct PgConn {
    conn: AsyncPgConnection,
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
                    tracing::warn!(
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

    /// The connection, to run a query on (`query.first(&mut lease.conn())`): queries of
    /// several checks at once are pipelined.
    pub(crate) fn conn(&self) -> &AsyncPgConnection {
        &self.0.conn
    }

    /// Marks the connection dropped: the next check on the thread opens another.
    pub(crate) fn broke(&self) {
        self.0.broken.store(true, Ordering::Relaxed);
    }

    /// `SELECT 1` on the connection.
    pub(crate) async fn ping(&self) -> Result<(), DbError> {
        use diesel_async::RunQueryDsl;
        let one = diesel::select(diesel::dsl::sql::<diesel::sql_types::Integer>("1"));
        match one.get_result::<i32>(&mut self.conn()).await {
            Ok(_) => Ok(()),
            Err(error) => {
                self.broke();
                Err(DbError::Unavailable(BackendError::driver(error)))
            }
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Whether `error` says the connection itself failed (closed, reset, the server shut it):
/// the query may be run again elsewhere.
pub(crate) fn is_connection_failure(error: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    match error {
        Error::DatabaseError(
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
            _,
        ) => true,
        // 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now.
        Error::DatabaseError(_, info) => {
            let message = info.message();
            message.starts_with("terminating connection")
                || message.contains("the database system is shutting down")
                || message.contains("the database system is starting up")
        }
        _ => false,
    }
}

/// Opens a connection as `target` says and sets it up as the pool's are.
pub(crate) async fn connect(target: &PgTarget) -> Result<PgConn, String> {
    use diesel_async::SimpleAsyncConnection;
    let mut conn = if target.encrypt {
        let (client, connection) = target
            .config
            .connect(encrypting_connector()?)
            .await
            .map_err(|e| e.to_string())?;
        AsyncPgConnection::try_from_client_and_connection(client, connection).await
    } else {
        let (client, connection) = target
            .config
            .connect(tokio_postgres::NoTls)
            .await
            .map_err(|e| e.to_string())?;
        AsyncPgConnection::try_from_client_and_connection(client, connection).await
    }
    .map_err(|e| e.to_string())?;
    if !target.setup.is_empty() {
        conn.batch_execute(&target.setup)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(PgConn {
        conn,
        in_flight: AtomicUsize::new(0),
        broken: AtomicBool::new(false),
    })
}

/// TLS as libpq's `sslmode=prefer` and `require` do without a root certificate: the
/// connection is encrypted and the handshake's signatures are checked, the certificate chain
/// is not (a URL that asks for that, `verify-ca` or `verify-full`, takes the pool's way).
fn encrypting_connector() -> Result<tokio_postgres_rustls::MakeRustlsConnect, String> {
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
