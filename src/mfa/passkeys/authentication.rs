//! Signing in with a passkey alone: the discoverable-credential ("usernameless") ceremony. The
//! authenticator says whose credential it used (the user handle); authd checks that against the
//! stored passkey, verifies the signature with user verification, and records the counter.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PublicKeyCredential, WebauthnError,
};

use super::ceremony::{Ceremony, SIGN_IN};
use super::{Finish, PasskeyError, Passkeys};
use crate::signin::PageKeys;
use crate::store::{PasskeyUse, Store, User};

/// A successful passkey sign-in.
#[derive(Debug, Clone)]
pub struct SignedInWithPasskey {
    /// Who signed in (enabled).
    pub user: User,
    /// With which passkey, base64url.
    pub credential_id: String,
}

impl Passkeys {
    /// Starts a sign-in bound to `binding` (the login transaction's CSRF token): the options for
    /// `navigator.credentials.get` and the sealed state the page sends back.
    pub fn begin_sign_in(
        &self,
        keys: &PageKeys,
        binding: &str,
        now: i64,
    ) -> Result<(Value, String), PasskeyError> {
        let relying_party = self.relying_party()?;
        let (mut options, state) =
            relying_party
                .start_discoverable_authentication()
                .map_err(|error| {
                    PasskeyError::Internal(anyhow::anyhow!("starting a sign-in: {error}"))
                })?;
        // webauthn-rs asks for conditional mediation (autofill); the button asks outright.
        options.mediation = None;
        let challenge = options.public_key.challenge.clone();
        let options =
            serde_json::to_value(&options).map_err(|error| PasskeyError::Internal(error.into()))?;
        let sealed = Ceremony::<DiscoverableAuthentication>::new(
            state,
            binding,
            &challenge,
            now,
            self.ceremony_ttl_secs,
        )
        .seal(keys, SIGN_IN)
        .ok_or_else(|| PasskeyError::Internal(anyhow::anyhow!("sealing a sign-in")))?;
        Ok((options, sealed))
    }

    /// Finishes a sign-in that `begin_sign_in` started with `finish.binding`. `expected_user`
    /// is the user the login transaction already knows (a password was verified): the passkey
    /// must be theirs.
    pub async fn finish_sign_in(
        &self,
        store: &Store,
        keys: &PageKeys,
        finish: Finish<'_, PublicKeyCredential>,
        expected_user: Option<&str>,
        now: i64,
    ) -> Result<SignedInWithPasskey, PasskeyError> {
        let relying_party = self.relying_party()?;
        let credential = finish.credential;
        let ceremony = Ceremony::<DiscoverableAuthentication>::open(
            keys,
            SIGN_IN,
            finish.sealed,
            finish.binding,
            now,
        )
        .ok_or(PasskeyError::Stale)?;
        let (user_handle, raw_id) = relying_party
            .identify_discoverable_authentication(credential)
            .map_err(|_| PasskeyError::Refused)?;
        let credential_id = URL_SAFE_NO_PAD.encode(raw_id);
        let stored = store
            .find_passkey(&credential_id)
            .await?
            .ok_or(PasskeyError::Refused)?;
        // The authenticator's user handle must name the passkey's owner (WebAuthn 7.2 step 6).
        if stored.user_id != user_handle.to_string()
            || expected_user.is_some_and(|expected| expected != stored.user_id)
        {
            return Err(PasskeyError::Refused);
        }
        let mut passkey: Passkey = serde_json::from_str(&stored.passkey).map_err(|error| {
            PasskeyError::Internal(anyhow::Error::new(error).context("reading a stored passkey"))
        })?;
        let cloned = || PasskeyError::Cloned {
            user_id: stored.user_id.clone(),
            credential_id: credential_id.clone(),
        };
        let result = relying_party
            .finish_discoverable_authentication_v2(credential, ceremony.state, &passkey)
            .map_err(|error| match error {
                WebauthnError::CredentialPossibleCompromise => cloned(),
                other => {
                    log::info!("passkey sign-in refused: {other}");
                    PasskeyError::Refused
                }
            })?;
        // The library demands it already (policy "required"); a passkey is a factor only with it.
        if !result.user_verified() {
            return Err(PasskeyError::Refused);
        }
        let user = store
            .find_user_by_id(&stored.user_id)
            .await?
            .filter(|user| !user.disabled)
            .ok_or(PasskeyError::Refused)?;
        if !store
            .use_webauthn_challenge(&ceremony.challenge_hash, ceremony.expires_at)
            .await?
        {
            return Err(PasskeyError::Replayed);
        }
        passkey.update_credential(&result);
        let serialised = serde_json::to_string(&passkey)
            .map_err(|error| PasskeyError::Internal(error.into()))?;
        let counter = i64::from(result.counter());
        match store
            .record_passkey_use(&credential_id, &serialised, counter, now)
            .await?
        {
            PasskeyUse::Recorded => Ok(SignedInWithPasskey {
                user,
                credential_id,
            }),
            PasskeyUse::CounterDidNotGrow => Err(cloned()),
        }
    }
}
