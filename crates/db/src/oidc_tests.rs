//! The OpenID Connect queries, on each backend.
use super::*;
use crate::testing::{on_each_backend, TEST_HASH as HASH};
use user_model::NewPasskey;

fn login(state: &str, visitor: &str, user_id: Option<UserId>, expires_at: i64) -> OidcLogin {
    OidcLogin {
        state_digest: state.to_owned(),
        provider: "google".to_owned(),
        visitor_digest: visitor.to_owned(),
        user_id,
        session_id: user_id.map(|_| "s1".to_owned()),
        return_to: None,
        expires_at,
    }
}

fn identity(subject: &str, user_id: UserId) -> NewOidcIdentity<'_> {
    NewOidcIdentity {
        provider: "google",
        subject,
        user_id,
        email: None,
        created_at: 100,
        last_used_at: None,
    }
}

#[test]
fn a_sign_in_begun_is_taken_once_by_its_visitor_while_live() {
    on_each_backend(|db| {
        db.begin_oidc_login(&login("s", "v", None, 700), 100)
            .unwrap();
        let take = |state, provider, visitor, now| {
            db.take_oidc_login(state, provider, visitor, now).unwrap()
        };
        assert_eq!(take("s", "google", "other visitor", 200), None);
        assert_eq!(take("s", "github", "v", 200), None);
        assert_eq!(take("tampered", "google", "v", 200), None);
        assert_eq!(take("s", "google", "v", 700), None, "expired");
        // A foreign or expired attempt left it for its own visitor (until cleared).
        assert_eq!(take("s", "google", "v", 200).unwrap().state_digest, "s");
        assert_eq!(take("s", "google", "v", 200), None, "used");
        // Expired rows go when the next begins; a visitor keeps at most five.
        db.begin_oidc_login(&login("old", "v", None, 150), 100)
            .unwrap();
        for i in 0..7 {
            db.begin_oidc_login(&login(&format!("n{i}"), "v", None, 900 + i), 200)
                .unwrap();
        }
        db.begin_oidc_login(&login("other", "w", None, 900), 200)
            .unwrap();
        assert_eq!(
            db.count_oidc_logins().unwrap(),
            MAX_OIDC_LOGINS_PER_VISITOR + 1
        );
        assert!(take("n6", "google", "v", 300).is_some(), "the newest stays");
        assert!(take("n0", "google", "v", 300).is_none(), "the oldest went");
    });
}

#[test]
fn an_account_made_through_a_provider_comes_with_its_connection_or_not_at_all() {
    on_each_backend(|db| {
        let new = NewUser {
            email: "a@x.io",
            hashed_password: NO_PASSWORD,
            email_verified_at: Some(100),
            verify_token: None,
            verify_expires_at: None,
        };
        let user = db.add_oidc_user(&new, &identity("sub-a", 0), 100).unwrap();
        let found = db.find_oidc_identity("google", "sub-a").unwrap().unwrap();
        assert_eq!(found.user_id, user.id);
        // The same person again (a race lost): nothing is added.
        let again = NewUser {
            email: "b@x.io",
            ..new
        };
        assert!(matches!(
            db.add_oidc_user(&again, &identity("sub-a", 0), 100),
            Err(DbError::Conflict)
        ));
        // An address with an account: nothing is added either.
        assert!(matches!(
            db.add_oidc_user(&new, &identity("sub-b", 0), 100),
            Err(DbError::DuplicateEmail)
        ));
        assert!(db.find_oidc_identity("google", "sub-b").unwrap().is_none());
        assert!(matches!(
            db.find_user_by_name(&[("email", "b@x.io")]),
            Err(DbError::NoResultFound)
        ));
    });
}

#[test]
fn connecting_needs_both_sides_free_and_disconnecting_keeps_a_way_in() {
    on_each_backend(|db| {
        let a = db.add_user("a@x.io", NO_PASSWORD).unwrap().id;
        let b = db.add_user("b@x.io", HASH).unwrap().id;
        assert_eq!(
            db.connect_oidc(&identity("sub-a", a)).unwrap(),
            Connected::Connected
        );
        assert_eq!(
            db.connect_oidc(&identity("sub-a", a)).unwrap(),
            Connected::AlreadyConnected
        );
        assert_eq!(
            db.connect_oidc(&identity("sub-a", b)).unwrap(),
            Connected::OtherAccount
        );
        assert_eq!(
            db.connect_oidc(&identity("sub-other", a)).unwrap(),
            Connected::ProviderInUse
        );
        assert_eq!(
            db.connect_oidc(&identity("x", 999)).unwrap(),
            Connected::NoSuchUser
        );
        // `a` has no password, no passkey, no other provider: it stays.
        assert_eq!(
            db.disconnect_oidc(a, "google").unwrap(),
            Disconnected::LastWayIn
        );
        assert_eq!(
            db.disconnect_oidc(a, "github").unwrap(),
            Disconnected::NotConnected
        );
        // A passkey is a way in.
        let passkey = NewPasskey {
            public_id: "p",
            user_id: a,
            credential_id: "c",
            passkey: "{}",
            name: "Key",
            created_at: 100,
        };
        db.add_passkey(&passkey, 20).unwrap();
        assert_eq!(
            db.disconnect_oidc(a, "google").unwrap(),
            Disconnected::Disconnected
        );
        // A password is one too.
        assert_eq!(
            db.connect_oidc(&identity("sub-b", b)).unwrap(),
            Connected::Connected
        );
        assert_eq!(
            db.disconnect_oidc(b, "google").unwrap(),
            Disconnected::Disconnected
        );
        assert!(db.list_oidc_identities(b).unwrap().is_empty());
    });
}

#[test]
fn an_account_goes_with_its_connections_and_sign_ins_begun() {
    on_each_backend(|db| {
        let user = db.add_user("a@x.io", HASH).unwrap();
        db.connect_oidc(&identity("sub-a", user.id)).unwrap();
        db.begin_oidc_login(&login("s", "v", Some(user.id), 700), 100)
            .unwrap();
        db.delete_user_if_password(user.id, HASH).unwrap();
        assert!(db.find_oidc_identity("google", "sub-a").unwrap().is_none());
        assert_eq!(db.count_oidc_logins().unwrap(), 0);
    });
}
