//! Issuing a device code and user code pair (RFC 8628 section 3.2).

use std::fmt;

use crate::config::OAuthSettings;
use crate::credentials::{PresentedClient, generate_secret, hash_secret};
use crate::domain::{ResourceUri, ScopeSet};
use crate::store::{DeviceCodeStored, NewDeviceCode, Store, StoreError};

use super::UserCode;

/// Fresh user codes tried when one is taken (each try collides with odds of live codes in
/// 2.56e10).
const USER_CODE_TRIES: usize = 3;

/// A stored device authorization: what the client is told.
pub struct DeviceAuthorization {
    /// 256 random bits (base64url), stored only as its SHA-256.
    pub device_code: String,
    /// What the person enters.
    pub user_code: UserCode,
    /// Seconds both codes live.
    pub expires_in: i64,
    /// Seconds between polls.
    pub interval: i64,
}

// The device code is the polling client's bearer secret.
impl fmt::Debug for DeviceAuthorization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceAuthorization")
            .field("expires_in", &self.expires_in)
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

/// Stores a device authorization for `client` asking for `scope` (all it may hold when `None`)
/// and `resources`; `None` when the client holds `oauth.device_codes_per_client` live codes.
pub async fn start_authorization(
    store: &Store,
    settings: &OAuthSettings,
    client: &PresentedClient,
    scope: Option<&ScopeSet>,
    resources: &[ResourceUri],
    now: i64,
) -> Result<Option<DeviceAuthorization>, StoreError> {
    let scope = scope.map(ScopeSet::to_string);
    let resources = resources
        .iter()
        .map(ResourceUri::as_str)
        .collect::<Vec<_>>()
        .join(" ");
    let expires_in = settings.device_code_ttl_secs as i64;
    let interval = settings.device_code_interval_secs as i64;
    let cap = i64::try_from(settings.device_codes_per_client).unwrap_or(i64::MAX);
    for _ in 0..USER_CODE_TRIES {
        let device_code = generate_secret();
        let user_code = UserCode::generate();
        let (device_code_hash, user_code_hash) = (hash_secret(&device_code), user_code.hash());
        let row = NewDeviceCode {
            device_code_hash: &device_code_hash,
            user_code_hash: &user_code_hash,
            client_id: &client.client_id,
            client_registration: &client.registration,
            scope: scope.as_deref(),
            resources: &resources,
            created_at: now,
            expires_at: now + expires_in,
            interval_secs: interval,
        };
        match store.insert_device_code(&row, cap).await? {
            DeviceCodeStored::Stored => {
                return Ok(Some(DeviceAuthorization {
                    device_code,
                    user_code,
                    expires_in,
                    interval,
                }));
            }
            DeviceCodeStored::ClientFull => return Ok(None),
            DeviceCodeStored::UserCodeTaken => continue,
        }
    }
    Err(StoreError::Other(anyhow::anyhow!(
        "no free user code in {USER_CODE_TRIES} tries"
    )))
}
