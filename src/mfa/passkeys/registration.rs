//! Registering a passkey from a signed-in session.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use webauthn_rs::prelude::{Passkey, PasskeyRegistration, RegisterPublicKeyCredential, Uuid};

use super::ceremony::{Ceremony, REGISTRATION};
use super::{Finish, MAX_PER_USER, PasskeyError, PasskeyName, Passkeys};
use crate::signin::PageKeys;
use crate::store::{NewPasskey, PasskeyAdded, Store, StoredPasskey, User};

/// A passkey just registered.
#[derive(Debug, Clone)]
pub struct Registered {
    /// Its credential id, base64url.
    pub credential_id: String,
    /// Its name.
    pub name: String,
}

impl Passkeys {
    /// Starts registering a passkey for `user`, whose session is `session_handle` and who holds
    /// `existing`: the options for `navigator.credentials.create` and the sealed state the page
    /// sends back.
    pub fn begin_registration(
        &self,
        keys: &PageKeys,
        user: &User,
        existing: &[StoredPasskey],
        session_handle: &str,
        now: i64,
    ) -> Result<(Value, String), PasskeyError> {
        let relying_party = self.relying_party()?;
        if existing.len() as i64 >= MAX_PER_USER {
            return Err(PasskeyError::TooMany);
        }
        // The user handle is the user's id (a UUID): a discoverable credential hands it back at
        // sign-in, and it says nothing about the person.
        let user_handle = Uuid::parse_str(&user.id).map_err(|_| PasskeyError::Refused)?;
        let display_name = user
            .full_name
            .as_deref()
            .filter(|name| !name.is_empty())
            .unwrap_or(&user.username);
        // No exclusion list in the library's state (it would travel in the seal, growing with
        // every passkey); the store refuses a credential registered already instead.
        let (options, state) = relying_party
            .start_passkey_registration(user_handle, &user.username, display_name, None)
            .map_err(|error| {
                PasskeyError::Internal(anyhow::anyhow!("starting a registration: {error}"))
            })?;
        let challenge = options.public_key.challenge.clone();
        let mut options =
            serde_json::to_value(&options).map_err(|error| PasskeyError::Internal(error.into()))?;
        let public_key = &mut options["publicKey"];
        // Usernameless sign-in needs a discoverable (resident) credential; webauthn-rs asks for
        // "discouraged" and checks nothing about it when the registration finishes.
        public_key["authenticatorSelection"]["residentKey"] = json!("required");
        public_key["authenticatorSelection"]["requireResidentKey"] = json!(true);
        // The authenticator declines to make a second credential for the same account.
        public_key["excludeCredentials"] = existing
            .iter()
            .map(|passkey| json!({"type": "public-key", "id": passkey.credential_id}))
            .collect();
        let sealed = Ceremony::<PasskeyRegistration>::new(
            state,
            session_handle,
            &challenge,
            now,
            self.ceremony_ttl_secs,
        )
        .seal(keys, REGISTRATION)
        .ok_or_else(|| PasskeyError::Internal(anyhow::anyhow!("sealing a registration")))?;
        Ok((options, sealed))
    }

    /// Finishes a registration that `begin_registration` started for the session
    /// `finish.binding` (its handle) of `user_id`: verifies the authenticator's answer and stores
    /// the passkey under `name`.
    pub async fn finish_registration(
        &self,
        store: &Store,
        keys: &PageKeys,
        finish: Finish<'_, RegisterPublicKeyCredential>,
        user_id: &str,
        name: &PasskeyName,
        now: i64,
    ) -> Result<Registered, PasskeyError> {
        let relying_party = self.relying_party()?;
        let credential = finish.credential;
        let ceremony = Ceremony::<PasskeyRegistration>::open(
            keys,
            REGISTRATION,
            finish.sealed,
            finish.binding,
            now,
        )
        .ok_or(PasskeyError::Stale)?;
        let passkey: Passkey = relying_party
            .finish_passkey_registration(credential, &ceremony.state)
            .map_err(|error| {
                log::info!("passkey registration refused: {error}");
                PasskeyError::Refused
            })?;
        if !store
            .use_webauthn_challenge(&ceremony.challenge_hash, ceremony.expires_at)
            .await?
        {
            return Err(PasskeyError::Replayed);
        }
        let credential_id = URL_SAFE_NO_PAD.encode(passkey.cred_id());
        let serialised = serde_json::to_string(&passkey)
            .map_err(|error| PasskeyError::Internal(error.into()))?;
        let new = NewPasskey {
            credential_id: &credential_id,
            user_id,
            name: name.as_str(),
            passkey: &serialised,
            now,
        };
        match store.add_passkey(&new, MAX_PER_USER).await? {
            PasskeyAdded::Added => Ok(Registered {
                credential_id,
                name: name.as_str().to_owned(),
            }),
            PasskeyAdded::Duplicate => Err(PasskeyError::AlreadyRegistered),
            PasskeyAdded::TooMany => Err(PasskeyError::TooMany),
        }
    }
}
