//! Password hashing with argon2id, off the async workers and bounded in concurrency.

use std::fmt;
use std::sync::Arc;

use argon2::password_hash::rand_core::OsRng;
use std::sync::Mutex;

use argon2::password_hash::{Output, ParamsString, PasswordHash as PhcString, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

use super::address_slots::AddressSlots;
use super::hash_pool::{HashError, HashPool, StillWaiting};
use crate::config::PasswordSettings;
use crate::metrics::METRICS;

/// A stored password hash in PHC format; `Debug` never shows it.
#[derive(Clone)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Wraps a hash read from storage.
    pub fn from_stored(phc: String) -> Self {
        Self(phc)
    }

    /// The PHC string, for storage.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Which algorithm produced the hash.
    pub fn scheme(&self) -> PasswordScheme {
        if self.0.starts_with("$argon2id$") {
            PasswordScheme::Argon2id
        } else if self.0.starts_with("$argon2i$") || self.0.starts_with("$argon2d$") {
            PasswordScheme::Argon2Other
        } else if ["$2a$", "$2b$", "$2y$"]
            .iter()
            .any(|prefix| self.0.starts_with(prefix))
        {
            PasswordScheme::Bcrypt
        } else {
            PasswordScheme::Unknown
        }
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash([redacted])")
    }
}

/// The algorithm behind a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordScheme {
    /// argon2id (what authd writes).
    Argon2id,
    /// argon2i or argon2d (imported; replaced by argon2id at the next login).
    Argon2Other,
    /// bcrypt (imported).
    Bcrypt,
    /// Anything else; never verifies.
    Unknown,
}

impl PasswordScheme {
    /// Lower-case name, as the admin API shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            PasswordScheme::Argon2id => "argon2id",
            PasswordScheme::Argon2Other => "argon2",
            PasswordScheme::Bcrypt => "bcrypt",
            PasswordScheme::Unknown => "unknown",
        }
    }
}

/// Result of checking a password.
#[derive(Debug, PartialEq, Eq)]
pub enum VerifyOutcome {
    /// Wrong password (or no such user).
    Mismatch,
    /// Right password, hash current.
    Match,
    /// Right password; the stored hash should be replaced with this one (new parameters).
    MatchRehashed(String),
}

/// Hashes and verifies passwords on low-priority threads, at most `limit` at a time.
#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    pool: HashPool,
    per_address: Arc<AddressSlots>,
    memory: Arc<WorkingMemory>,
    // A hash of a random password, verified when the user does not exist so that
    // unknown usernames cost the same time as wrong passwords.
    dummy_hash: Arc<String>,
}

impl PasswordHasher {
    /// Builds a hasher from settings.
    pub fn new(settings: &PasswordSettings, limit: usize) -> anyhow::Result<Self> {
        let params = Params::new(
            settings.memory_kib,
            settings.iterations,
            settings.parallelism,
            None,
        )
        .map_err(|e| anyhow::anyhow!("passwords: invalid argon2 parameters: {e}"))?;
        // The start-up hash uses memory of its own, freed at once: an idle authd holds none.
        let dummy_hash = hash_blocking(&params, &super::generate_secret(), &WorkingMemory::new())?;
        let memory = Arc::new(WorkingMemory::new());
        Ok(Self {
            params,
            pool: HashPool::start(limit.max(1), settings.max_queued_hashes.max(1))?,
            per_address: Arc::new(AddressSlots::new(settings.max_hashes_per_address)),
            memory,
            dummy_hash: Arc::new(dummy_hash),
        })
    }

    /// Hashes a new password with the configured parameters.
    pub async fn hash(&self, password: &SecretString) -> Result<PasswordHash, HashError> {
        let params = self.params.clone();
        let password = password.clone();
        let memory = self.memory.clone();
        let phc = self
            .run_blocking(
                move || hash_blocking(&params, password.expose_secret(), &memory),
                None,
            )
            .await??;
        Ok(PasswordHash(phc))
    }

    /// Checks a password against a stored hash, or against the dummy hash when `stored` is None.
    pub async fn verify(
        &self,
        password: &SecretString,
        stored: Option<&PasswordHash>,
    ) -> Result<VerifyOutcome, HashError> {
        self.verify_for(password, stored, HashRequester::default())
            .await
    }

    /// Like `verify`, for a request: its address gets at most its share of the hashing
    /// threads and queue, and the check is skipped if its client is gone before it runs.
    pub async fn verify_for(
        &self,
        password: &SecretString,
        stored: Option<&PasswordHash>,
        requester: HashRequester,
    ) -> Result<VerifyOutcome, HashError> {
        let _slot = match &requester.address {
            Some(address) => Some(self.per_address.acquire(address).ok_or(HashError::Busy)?),
            None => None,
        };
        let known_user = stored.is_some();
        let stored = stored.map_or_else(|| self.dummy_hash.as_str().to_owned(), |h| h.0.clone());
        let params = self.params.clone();
        let password = password.clone();
        let memory = self.memory.clone();
        let outcome = self
            .run_blocking(
                move || verify_blocking(&params, password.expose_secret(), &stored, &memory),
                requester.still_waiting,
            )
            .await??;
        Ok(if known_user {
            outcome
        } else {
            VerifyOutcome::Mismatch
        })
    }

    async fn run_blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
        still_waiting: Option<StillWaiting>,
    ) -> Result<T, HashError> {
        METRICS.hash_queue_change(1);
        let result = self.pool.run(work, still_waiting).await;
        METRICS.hash_queue_change(-1);
        result
    }
}

/// Who asks for a password check.
#[derive(Default)]
pub struct HashRequester {
    /// The client address (IPv6 per /64), whose share of hashing is capped.
    pub address: Option<String>,
    /// Whether its client still waits for the answer.
    pub still_waiting: Option<StillWaiting>,
}

fn argon2(params: &Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
}

/// Argon2 working memory kept between hashes. Allocating and freeing `memory_kib` per login
/// makes glibc keep freed buffers per thread (gigabytes under load); reusing at most one buffer
/// per concurrent hash keeps resident memory at `limit x memory_kib`.
pub struct WorkingMemory {
    buffers: Mutex<Vec<Vec<Block>>>,
}

impl WorkingMemory {
    fn new() -> Self {
        Self {
            buffers: Mutex::new(Vec::new()),
        }
    }

    fn take(&self, blocks: usize) -> Vec<Block> {
        let reused = self.buffers.lock().expect("memory pool poisoned").pop();
        match reused {
            Some(buffer) if buffer.len() >= blocks => buffer,
            _ => vec![Block::default(); blocks],
        }
    }

    fn give_back(&self, buffer: Vec<Block>) {
        self.buffers
            .lock()
            .expect("memory pool poisoned")
            .push(buffer);
    }
}

/// Computes an argon2 output into `out` using pooled memory.
fn compute(
    hasher: &Argon2<'_>,
    params: &Params,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
    memory: &WorkingMemory,
) -> anyhow::Result<()> {
    let mut buffer = memory.take(params.block_count());
    let result = hasher.hash_password_into_with_memory(
        password,
        salt,
        out,
        &mut buffer[..params.block_count()],
    );
    memory.give_back(buffer);
    result.map_err(|e| anyhow::anyhow!("hashing password: {e}"))
}

fn hash_blocking(
    params: &Params,
    password: &str,
    memory: &WorkingMemory,
) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt
        .as_salt()
        .decode_b64(&mut salt_bytes)
        .map_err(|e| anyhow::anyhow!("salt: {e}"))?;
    let mut output = [0u8; Params::DEFAULT_OUTPUT_LEN];
    compute(
        &argon2(params),
        params,
        password.as_bytes(),
        salt_bytes,
        &mut output,
        memory,
    )?;
    let phc = PhcString {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(|e| anyhow::anyhow!("params: {e}"))?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&output).map_err(|e| anyhow::anyhow!("output: {e}"))?),
    };
    Ok(phc.to_string())
}

/// bcrypt reads at most 72 bytes; passlib truncates silently, so imported hashes expect that.
const BCRYPT_MAX_BYTES: usize = 72;

fn verify_blocking(
    params: &Params,
    password: &str,
    stored: &str,
    memory: &WorkingMemory,
) -> anyhow::Result<VerifyOutcome> {
    if PasswordHash::from_stored(stored.to_owned()).scheme() == PasswordScheme::Bcrypt {
        let bytes = password.as_bytes();
        let matched =
            bcrypt::verify(&bytes[..bytes.len().min(BCRYPT_MAX_BYTES)], stored).unwrap_or(false);
        // A correct bcrypt password is rehashed with argon2id on the spot.
        return Ok(if matched {
            VerifyOutcome::MatchRehashed(hash_blocking(params, password, memory)?)
        } else {
            VerifyOutcome::Mismatch
        });
    }
    let Ok(parsed) = PhcString::new(stored) else {
        return Ok(VerifyOutcome::Mismatch);
    };
    let (Ok(algorithm), Ok(used), Some(salt), Some(expected)) = (
        Algorithm::try_from(parsed.algorithm),
        Params::try_from(&parsed),
        parsed.salt,
        parsed.hash,
    ) else {
        return Ok(VerifyOutcome::Mismatch);
    };
    let version = parsed
        .version
        .and_then(|v| Version::try_from(v).ok())
        .unwrap_or(Version::V0x13);
    let mut salt_bytes = [0u8; 64];
    let Ok(salt_bytes) = salt.decode_b64(&mut salt_bytes) else {
        return Ok(VerifyOutcome::Mismatch);
    };
    let mut output = vec![0u8; expected.len()];
    let hasher = Argon2::new(algorithm, version, used.clone());
    if compute(
        &hasher,
        &used,
        password.as_bytes(),
        salt_bytes,
        &mut output,
        memory,
    )
    .is_err()
        || !bool::from(output.as_slice().ct_eq(expected.as_bytes()))
    {
        return Ok(VerifyOutcome::Mismatch);
    }
    let current = algorithm == Algorithm::Argon2id
        && used.m_cost() == params.m_cost()
        && used.t_cost() == params.t_cost()
        && used.p_cost() == params.p_cost();
    if current {
        Ok(VerifyOutcome::Match)
    } else {
        Ok(VerifyOutcome::MatchRehashed(hash_blocking(
            params, password, memory,
        )?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> PasswordSettings {
        PasswordSettings {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
            max_concurrent_hashes: 1,
            ..PasswordSettings::default()
        }
    }

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    #[tokio::test]
    async fn hash_then_verify_round_trips() {
        let hasher = PasswordHasher::new(&cheap(), 1).unwrap();
        let hash = hasher.hash(&secret("correct horse")).await.unwrap();
        assert!(hash.as_str().starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert_eq!(hash.scheme(), PasswordScheme::Argon2id);
        let right = hasher.verify(&secret("correct horse"), Some(&hash)).await;
        let wrong = hasher.verify(&secret("battery staple"), Some(&hash)).await;
        assert_eq!(right.unwrap(), VerifyOutcome::Match);
        assert_eq!(wrong.unwrap(), VerifyOutcome::Mismatch);
    }

    #[tokio::test]
    async fn unknown_user_never_matches_even_with_the_dummy_password() {
        let hasher = PasswordHasher::new(&cheap(), 1).unwrap();
        let outcome = hasher.verify(&secret("anything"), None).await.unwrap();
        assert_eq!(outcome, VerifyOutcome::Mismatch);
    }

    #[tokio::test]
    async fn raised_parameters_rehash_on_successful_login() {
        let old = PasswordHasher::new(&cheap(), 1).unwrap();
        let hash = old.hash(&secret("correct horse")).await.unwrap();
        let mut stronger = cheap();
        stronger.memory_kib = 128;
        let new = PasswordHasher::new(&stronger, 1).unwrap();
        match new
            .verify(&secret("correct horse"), Some(&hash))
            .await
            .unwrap()
        {
            VerifyOutcome::MatchRehashed(phc) => assert!(phc.contains("m=128,")),
            other => panic!("expected a rehash, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_bcrypt_hash_verifies_and_is_replaced_by_argon2id() {
        let hasher = PasswordHasher::new(&cheap(), 1).unwrap();
        let bcrypt_hash = bcrypt::hash("tutorial secret", 4).unwrap();
        let stored = PasswordHash::from_stored(bcrypt_hash);
        assert_eq!(stored.scheme(), PasswordScheme::Bcrypt);
        let wrong = hasher
            .verify(&secret("wrong"), Some(&stored))
            .await
            .unwrap();
        assert_eq!(wrong, VerifyOutcome::Mismatch);
        match hasher
            .verify(&secret("tutorial secret"), Some(&stored))
            .await
            .unwrap()
        {
            VerifyOutcome::MatchRehashed(phc) => assert!(phc.starts_with("$argon2id$")),
            other => panic!("expected a rehash, got {other:?}"),
        }
    }

    #[test]
    fn debug_hides_the_hash() {
        let hash = PasswordHash::from_stored("$argon2id$v=19$m=64,t=1,p=1$salt$hash".into());
        assert_eq!(format!("{hash:?}"), "PasswordHash([redacted])");
    }
}
