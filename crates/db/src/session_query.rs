//! The session check's query, below everything that runs it: which sessions are alive, the
//! typed query (`session_lookup!`), and, for a thread's own PostgreSQL connection to prepare,
//! diesel's rendering of it and of the record of use.

#[cfg(feature = "postgres")]
use diesel::prelude::*;
#[cfg(feature = "postgres")]
use user_model::schema::sessions;

/// Which sessions are alive: those expiring after `now` and used after `seen_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Alive {
    /// Unix seconds; a session expiring at or before this is dead.
    pub now: i64,
    /// Unix seconds; a session last seen at or before this is dead (idle). `i64::MIN` when
    /// there is no idle timeout.
    pub seen_after: i64,
}

/// The session of a token digest, alive, of an account not disabled, with its user: the query
/// every request with a cookie runs (`Db::find_session`, and on a thread's own connection
/// `Db::find_session_async`).
///
/// Written out on each backend's own connection, not through `AnyConnection`: diesel's
/// MultiConnection wraps every query in a `SerializedQuery` whose `walk_ast` renders the whole
/// SQL text again on each execution, even when the prepared statement is found in the cache
/// (diesel_derives 2.3, multiconnection.rs). Called directly, a cached statement is found by
/// its type and only the binds are collected.
macro_rules! session_lookup {
    ($token_digest:expr, $alive:expr) => {
        ::user_model::schema::sessions::table
            .inner_join(::user_model::schema::users::table)
            .filter(::user_model::schema::sessions::token_digest.eq($token_digest))
            .filter(::user_model::schema::sessions::expires_at.gt($alive.now))
            .filter(::user_model::schema::sessions::last_seen_at.gt($alive.seen_after))
            .filter(::user_model::schema::users::disabled_at.is_null())
            .select((
                <::user_model::User as ::diesel::SelectableHelper<_>>::as_select(),
                <::user_model::Session as ::diesel::SelectableHelper<_>>::as_select(),
            ))
    };
}
pub(crate) use session_lookup;

/// The SQL of `query` as diesel renders it for PostgreSQL (`$1`, `$2`… for its binds).
#[cfg(feature = "postgres")]
fn postgres_sql(query: &impl diesel::query_builder::QueryFragment<diesel::pg::Pg>) -> String {
    use diesel::query_builder::QueryBuilder;
    let mut builder = diesel::pg::PgQueryBuilder::default();
    match query.to_sql(&mut builder, &diesel::pg::Pg) {
        Ok(()) => builder.finish(),
        // Rendering a static query cannot fail; were it to, the prepare fails and checks
        // take the pool's way.
        Err(_) => String::new(),
    }
}

/// The session check as `Db::find_session` runs it (`.first()`: `LIMIT 1`), for a thread's
/// own connection to prepare. Binds: the token digest, `alive.now`, `alive.seen_after`, the
/// limit.
#[cfg(feature = "postgres")]
pub(crate) fn lookup_sql() -> String {
    let alive = Alive {
        now: 0,
        seen_after: 0,
    };
    postgres_sql(&session_lookup!("", alive).limit(1))
}

/// The record of use as `Db::touch_session` writes it. Binds: now, the session's id, the
/// time the last use must be older than.
#[cfg(feature = "postgres")]
pub(crate) fn touch_sql() -> String {
    postgres_sql(
        &diesel::update(
            sessions::table
                .find(0)
                .filter(sessions::last_seen_at.lt(0_i64)),
        )
        .set(sessions::last_seen_at.eq(0_i64)),
    )
}
