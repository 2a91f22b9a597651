//! Who acts through an `Auth` handle and from where: what every audit event its flows write
//! records beside the change.

use db::Actor;

/// Who acts and from where: recorded with every event a handle's flows write. The default is
/// the account's owner with no address known (a library caller).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestContext {
    /// Who acts.
    pub actor: Actor,
    /// The client's address.
    pub ip: Option<String>,
    /// The client's `User-Agent` (cleaned and cut to 256 characters when stored, as a
    /// session's is).
    pub user_agent: Option<String>,
    /// The request's id, to find its log lines.
    pub request_id: Option<String>,
}

impl Default for RequestContext {
    fn default() -> Self {
        RequestContext {
            actor: Actor::User,
            ip: None,
            user_agent: None,
            request_id: None,
        }
    }
}

impl RequestContext {
    /// `actor` acting with no client known (the command line, a background job).
    pub fn of(actor: Actor) -> Self {
        RequestContext {
            actor,
            ..RequestContext::default()
        }
    }
}
