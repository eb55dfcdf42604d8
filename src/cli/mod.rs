//! The command line: `serve`, `migrate`, and the `role`, `user`, `client`, `resource` and
//! `keys` tools.

mod commands;
mod import;
mod stdin_password;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub use commands::run;

/// authd: a standalone OAuth 2.0 token issuer.
#[derive(Debug, Parser)]
#[command(name = "authd", version, about)]
pub struct Cli {
    /// TOML configuration file (also `AUTHD_CONFIG`); `AUTHD_*` variables override it.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply migrations, then serve HTTP.
    Serve {
        /// Listen address, overriding `server.bind`.
        #[arg(long, value_name = "ADDR")]
        bind: Option<std::net::SocketAddr>,
    },
    /// Apply pending migrations and exit.
    Migrate,
    /// Manage roles and their scopes.
    #[command(subcommand)]
    Role(RoleCommand),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage OAuth clients.
    #[command(subcommand)]
    Client(ClientCommand),
    /// Manage resources (RFC 8707): the APIs tokens can be asked for, and the scopes each claims.
    #[command(subcommand)]
    Resource(ResourceCommand),
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
}

/// `authd role …`
#[derive(Debug, Subcommand)]
pub enum RoleCommand {
    /// Create a role or replace everything about it (its scopes and --require-mfa).
    Set {
        /// Role name.
        role: String,
        /// Scopes the role grants.
        scopes: Vec<String>,
        /// Holders must sign in with a second factor (TOTP or a passkey); setting the role
        /// again without this flag clears it.
        #[arg(long)]
        require_mfa: bool,
    },
    /// List roles and their scopes (`require-mfa` marks roles that demand a second factor).
    List,
}

/// `authd user …`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; the password is read from standard input.
    Add(AddUser),
    /// Set a user's password from standard input.
    Passwd {
        /// Username.
        username: String,
    },
    /// Disable a user: no logins, and their tokens stop working.
    Disable {
        /// Username.
        username: String,
    },
    /// Enable a disabled user.
    Enable {
        /// Username.
        username: String,
    },
    /// List users.
    List,
    /// Manage a user's second factors.
    #[command(subcommand)]
    Mfa(MfaCommand),
    /// Import users from JSON Lines (username, password_hash, email, full_name, roles,
    /// disabled); argon2 and bcrypt hashes; all or nothing.
    Import {
        /// The file to read.
        file: PathBuf,
    },
}

/// `authd user mfa …`
#[derive(Debug, Subcommand)]
pub enum MfaCommand {
    /// Remove the user's TOTP authenticator, recovery codes and passkeys (e.g. a lost phone).
    Reset {
        /// Username.
        username: String,
    },
}

/// Arguments of `authd user add`.
#[derive(Debug, Args)]
pub struct AddUser {
    /// Username: 1 to 64 letters, digits, '.', '_', '-', '@' (stored lower-case, NFKC).
    pub username: String,
    /// Role to assign (repeatable).
    #[arg(long = "role", value_name = "ROLE")]
    pub roles: Vec<String>,
    /// Email address.
    #[arg(long)]
    pub email: Option<String>,
    /// Full name.
    #[arg(long)]
    pub full_name: Option<String>,
    /// Create the user disabled.
    #[arg(long)]
    pub disabled: bool,
}

/// `authd client …`
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client; prints its generated secret once (nothing for --public).
    Add(Box<AddClient>),
    /// List clients.
    List,
    /// Change settings of a registered client: the flags given; the others stay (and change
    /// through the admin API).
    Set(SetClient),
}

/// Arguments of `authd client set`.
#[derive(Debug, Args)]
pub struct SetClient {
    /// client_id.
    pub client_id: String,
    /// Accept this client's authorization requests only through /par; `--require-par false`
    /// accepts plain ones again.
    #[arg(long = "require-par", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub require_par: Option<bool>,
    /// Sign its JWT introspection responses with ALG: RS256, ES256 or EdDSA; "" for the
    /// default (the access tokens' algorithm).
    #[arg(long = "introspection-alg", value_name = "ALG")]
    pub introspection_alg: Option<String>,
    /// Require (true, or the flag alone) or stop requiring (false) a DPoP proof with every token
    /// request.
    #[arg(long = "require-dpop", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub require_dpop: Option<bool>,
    /// Allow (true, or the flag alone) or stop allowing (false) token exchange without an
    /// actor token (RFC 8693 impersonation).
    #[arg(long = "allow-impersonation", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub allow_impersonation: Option<bool>,
    /// Replace the resources (RFC 8707) the client may ask tokens for with these (repeatable).
    #[arg(long = "resource", value_name = "URI", conflicts_with = "no_resources")]
    pub resources: Vec<String>,
    /// Allow the client no resources at all.
    #[arg(long)]
    pub no_resources: bool,
}

/// `authd resource …`
#[derive(Debug, Subcommand)]
pub enum ResourceCommand {
    /// Register a resource, or replace the scopes it claims: tokens for it carry only these,
    /// tokens without a resource never.
    Add {
        /// The resource indicator: an absolute URI without a fragment.
        uri: String,
        /// A scope it claims (repeatable).
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
    },
    /// List resources and the scopes they claim.
    List,
    /// Remove a resource.
    Remove {
        /// The resource indicator.
        uri: String,
    },
}

/// Arguments of `authd client add`.
#[derive(Debug, Args)]
pub struct AddClient {
    /// client_id.
    pub client_id: String,
    /// Grant type the client may use (repeatable): authorization_code, password,
    /// client_credentials, refresh_token, token-exchange (or its URN).
    #[arg(long = "grant", value_name = "GRANT", required = true)]
    pub grants: Vec<String>,
    /// Scope the client may obtain (repeatable).
    #[arg(long = "scope", value_name = "SCOPE")]
    pub scopes: Vec<String>,
    /// A public client: no secret, and no client_credentials grant.
    #[arg(long)]
    pub public: bool,
    /// Where authorization codes may be sent (repeatable; at least one with authorization_code):
    /// https, loopback http, or a private-use scheme such as com.example.app:/cb.
    #[arg(long = "redirect-uri", value_name = "URI")]
    pub redirect_uris: Vec<String>,
    /// Browser origin whose JavaScript may call /token, /revoke and the discovery documents
    /// (repeatable), e.g. https://app.example.com.
    #[arg(long = "allowed-origin", value_name = "ORIGIN")]
    pub allowed_origins: Vec<String>,
    /// Display name shown on the consent page (default: the client_id).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// A first-party client: people are not asked for consent.
    #[arg(long)]
    pub skip_consent: bool,
    /// Let this confidential client omit PKCE when it sends `openid` and a `nonce`.
    #[arg(long)]
    pub pkce_optional: bool,
    /// Where RP-Initiated Logout may send the browser back (repeatable); same rules as
    /// --redirect-uri.
    #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
    pub post_logout_redirect_uris: Vec<String>,
    /// Where authd POSTs a logout token when a session that signed into this client ends
    /// (Back-Channel Logout 1.0): https, or http on a loopback host.
    #[arg(long, value_name = "URI")]
    pub backchannel_logout_uri: Option<String>,
    /// The client needs `sid` in its logout tokens (authd always sends it).
    #[arg(long)]
    pub backchannel_logout_session_required: bool,
    /// Sign this client's id_tokens with ALG: RS256 (default), ES256 or EdDSA.
    #[arg(long = "id-token-alg", value_name = "ALG")]
    pub id_token_alg: Option<String>,
    /// Accept this client's authorization requests only through /par (RFC 9126).
    #[arg(long = "require-par")]
    pub require_par: bool,
    /// Sign this client's JWT introspection responses with ALG: RS256, ES256 or EdDSA (default:
    /// the access tokens' algorithm).
    #[arg(long = "introspection-alg", value_name = "ALG")]
    pub introspection_alg: Option<String>,
    /// A resource (RFC 8707) the client may ask tokens for (repeatable).
    #[arg(long = "resource", value_name = "URI")]
    pub resources: Vec<String>,
    /// Every token request must carry a DPoP proof (RFC 9449), so the client never gets a
    /// bearer token.
    #[arg(long)]
    pub require_dpop: bool,
    /// Let this client exchange a user's token without an actor token, so the token it gets
    /// carries no `act` (RFC 8693 impersonation; needs --grant token-exchange).
    #[arg(long)]
    pub allow_impersonation: bool,
}

/// `authd keys …`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Publish a new signing key of every offered algorithm (or of `--alg`); it signs after
    /// `keys.activation_delay_secs`.
    Rotate {
        /// Rotate only this algorithm's key: EdDSA, ES256 or RS256 (any case).
        #[arg(long, value_name = "ALG")]
        alg: Option<String>,
        /// Sign with the new key at once.
        #[arg(long)]
        now: bool,
    },
    /// List keys with their algorithm and state.
    List {
        /// Only this algorithm's keys: EdDSA, ES256 or RS256 (any case).
        #[arg(long, value_name = "ALG")]
        alg: Option<String>,
    },
    /// Delete keys that no unexpired token can need.
    Prune,
    /// Withdraw a key at once (e.g. leaked): unpublished, and tokens it signed stop verifying on
    /// every instance within `keys.reload_interval_ms`. Revoking an algorithm's active key first
    /// activates a new key of that algorithm, as `rotate --alg ALG --now` does.
    Revoke {
        /// The key's `kid`, as `keys list` shows it.
        kid: String,
    },
}
