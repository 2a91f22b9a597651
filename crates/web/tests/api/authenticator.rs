//! A software authenticator (`softpasskey`) that behaves as one holding discoverable
//! credentials, for the passkey tests here and in the `authd` process tests.
//!
//! softpasskey keeps no resident keys and gives no user handle: [`Authenticator`] tells it not
//! to store the key, keeps each credential's user handle itself, names its credentials when
//! asked to sign, and puts the handle into its answer, as an authenticator holding a
//! discoverable credential does. It checks on the way what the server asks for: a
//! discoverable credential with user verification, and a sign-in naming no credential.

use std::collections::HashMap;

use serde_json::Value;
use webauthn_authenticator_rs::prelude::Url;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_rs_proto::{
    AllowCredentials, CreationChallengeResponse, PublicKeyCredential, RequestChallengeResponse,
    ResidentKeyRequirement, UserVerificationPolicy,
};

/// A software authenticator holding discoverable credentials (see the module's doc).
pub struct Authenticator {
    soft: SoftPasskey,
    handles: HashMap<Vec<u8>, Vec<u8>>,
    origin: Url,
    /// Whether it verifies the user (false: user presence only).
    pub verifies: bool,
}

impl Authenticator {
    /// An authenticator for pages of `origin` (`https://authd.test`).
    pub fn new(origin: &str) -> Self {
        Authenticator {
            soft: SoftPasskey::new(true),
            handles: HashMap::new(),
            origin: Url::parse(origin).unwrap(),
            verifies: true,
        }
    }

    /// A new credential for registration `options` (`{"publicKey": …}`), as `toJSON()`.
    pub fn register(&mut self, options: &Value) -> Value {
        let mut ccr: CreationChallengeResponse = serde_json::from_value(options.clone()).unwrap();
        let selection = ccr.public_key.authenticator_selection.as_mut().unwrap();
        assert_eq!(
            selection.resident_key,
            Some(ResidentKeyRequirement::Required)
        );
        assert!(selection.require_resident_key);
        assert_eq!(
            selection.user_verification,
            UserVerificationPolicy::Required
        );
        selection.resident_key = None;
        selection.require_resident_key = false;
        let handle = ccr.public_key.user.id.clone();
        let credential = self.soft.do_registration(self.origin.clone(), ccr).unwrap();
        self.handles.insert(credential.raw_id.clone(), handle);
        serde_json::to_value(&credential).unwrap()
    }

    /// An assertion for sign-in `options`, as `toJSON()`.
    pub fn sign(&mut self, options: &Value) -> PublicKeyCredential {
        let mut rcr: RequestChallengeResponse = serde_json::from_value(options.clone()).unwrap();
        // Discoverable: no credential named; mediation left to the page.
        assert!(rcr.public_key.allow_credentials.is_empty());
        assert!(rcr.mediation.is_none());
        rcr.public_key.allow_credentials = self
            .handles
            .keys()
            .map(|id| AllowCredentials {
                type_: "public-key".into(),
                id: id.clone(),
                transports: None,
            })
            .collect();
        if !self.verifies {
            rcr.public_key.user_verification = UserVerificationPolicy::Discouraged_DO_NOT_USE;
        }
        let mut credential = self
            .soft
            .do_authentication(self.origin.clone(), rcr)
            .unwrap();
        credential.response.user_handle = Some(self.handles[&credential.raw_id].clone());
        credential
    }

    pub fn sign_in(&mut self, options: &Value) -> Value {
        serde_json::to_value(self.sign(options)).unwrap()
    }
}
