//! What each subcommand does. Every command applies pending migrations first.

use std::collections::BTreeSet;

use anyhow::Context;
use jsonwebtoken::Algorithm;

use super::import::read_import_file;
use super::stdin_password::read_password;
use super::{
    AddClient, AddUser, Cli, ClientCommand, Command, KeysCommand, MfaCommand, ResourceCommand,
    RoleCommand, SetClient, UserCommand,
};
use crate::audit::{AuditEvent, AuditLog};
use crate::clock::{rfc3339, unix_now};
use crate::config::Settings;
use crate::credentials::{PasswordHasher, generate_secret, hash_secret};
use crate::domain::{
    Authority, BrowserChanges, BrowserInput, ClientId, ClientKind, GrantType, NewPassword,
    ResourceUri, RoleName, ScopeSet, Username,
};
use crate::startup::Application;
use crate::store::{Client, NewClient, NewUser, Store};
use crate::tokens::{KeyManager, KeySummary};

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut settings = Settings::load(cli.config.as_deref())?;
    if let Command::Serve { bind: Some(bind) } = &cli.command {
        settings.server.bind = *bind;
    }
    let store = Store::connect(&settings.database)
        .await
        .context("connecting to the database")?;
    store.migrate().await?;
    let audit = AuditLog::start(store.clone());
    let result = run_command(cli.command, settings, store, &audit).await;
    // Changes made from the command line are audited like those made over HTTP.
    audit.flush().await;
    result
}

async fn run_command(
    command: Command,
    settings: Settings,
    store: Store,
    audit: &AuditLog,
) -> anyhow::Result<()> {
    match command {
        Command::Serve { .. } => {
            Application::build_with_store(settings, store)
                .await?
                .run_until_stopped()
                .await?
        }
        Command::Migrate => log::info!("migrations applied ({} store)", store.backend()),
        Command::Role(command) => run_role(command, &store, audit).await?,
        Command::User(command) => run_user(command, &store, &settings, audit).await?,
        Command::Client(command) => run_client(command, &store, audit).await?,
        Command::Resource(command) => run_resource(command, &store, audit).await?,
        Command::Keys(command) => run_keys(command, store, &settings, audit).await?,
    }
    Ok(())
}

/// Records a change made from the command line.
async fn record(audit: &AuditLog, action: &'static str, subject: &str, detail: Option<String>) {
    let mut event = AuditEvent::new(action).actor("cli").subject(subject);
    event.detail = detail;
    audit.record(event).await;
}

async fn run_role(command: RoleCommand, store: &Store, audit: &AuditLog) -> anyhow::Result<()> {
    match command {
        RoleCommand::Set {
            role,
            scopes,
            require_mfa,
        } => {
            let name = RoleName::parse(&role)?;
            let scopes = ScopeSet::from_tokens(&scopes)?;
            store
                .set_role(&name, &scopes, require_mfa, unix_now())
                .await?;
            record(
                audit,
                "role.set",
                name.as_str(),
                Some(format!("scopes={scopes} require_mfa={require_mfa}")),
            )
            .await;
            let policy = if require_mfa { " (require-mfa)" } else { "" };
            println!("role {name}: {scopes}{policy}");
        }
        RoleCommand::List => {
            for role in store.list_roles().await? {
                let policy = if role.require_mfa {
                    "\trequire-mfa"
                } else {
                    ""
                };
                println!("{}\t{}{policy}", role.name, role.scopes);
            }
        }
    }
    Ok(())
}

async fn run_user(
    command: UserCommand,
    store: &Store,
    settings: &Settings,
    audit: &AuditLog,
) -> anyhow::Result<()> {
    let hasher = || PasswordHasher::new(&settings.passwords, 1);
    match command {
        UserCommand::Add(AddUser {
            username,
            roles,
            email,
            full_name,
            disabled,
        }) => {
            let username = Username::parse(&username)?;
            let roles = roles
                .iter()
                .map(|r| RoleName::parse(r))
                .collect::<Result<Vec<_>, _>>()?;
            let password = NewPassword::parse(read_password("Password: ")?)?;
            let password_hash = hasher()?.hash(password.secret()).await?;
            let new = NewUser {
                username,
                email,
                full_name,
                disabled,
                password_hash,
                roles,
            };
            let user = store.create_user(&new, unix_now()).await?;
            record(audit, "user.created", &user.username, None).await;
            println!("user {} created (id {})", user.username, user.id);
        }
        UserCommand::Passwd { username } => {
            let username = Username::parse(&username)?;
            let password = NewPassword::parse(read_password("New password: ")?)?;
            let hash = hasher()?.hash(password.secret()).await?;
            store.set_password(&username, &hash, unix_now()).await?;
            record(
                audit,
                "user.updated",
                username.as_str(),
                Some("password".into()),
            )
            .await;
            println!("password of {username} changed");
        }
        UserCommand::Disable { username } => {
            let username = Username::parse(&username)?;
            store.set_disabled(&username, true, unix_now()).await?;
            record(
                audit,
                "user.updated",
                username.as_str(),
                Some("disabled=true".into()),
            )
            .await;
            println!("user {username} disabled");
        }
        UserCommand::Enable { username } => {
            let username = Username::parse(&username)?;
            store.set_disabled(&username, false, unix_now()).await?;
            record(
                audit,
                "user.updated",
                username.as_str(),
                Some("disabled=false".into()),
            )
            .await;
            println!("user {username} enabled");
        }
        UserCommand::Import { file } => {
            let users = read_import_file(&file)?;
            let count = store.insert_users(&users, unix_now()).await?.len();
            let detail = format!("{count} users from {}", file.display());
            record(audit, "user.imported", "", Some(detail)).await;
            println!("imported {count} users from {}", file.display());
        }
        UserCommand::Mfa(MfaCommand::Reset { username }) => {
            let username = Username::parse(&username)?;
            let user = store
                .find_user(&username)
                .await?
                .ok_or_else(|| anyhow::anyhow!("user {username} does not exist"))?;
            let removed = store.reset_second_factors(&user.id).await?;
            let detail = crate::routes::admin::describe_removed(&removed);
            record(audit, "mfa.reset", &user.username, Some(detail.clone())).await;
            println!("second factors of {username} removed ({detail})");
        }
        UserCommand::List => {
            for user in store.list_users().await? {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    user.username,
                    user.id,
                    if user.disabled { "disabled" } else { "enabled" },
                    user.roles.join(","),
                    user.email.unwrap_or_default()
                );
            }
        }
    }
    Ok(())
}

async fn run_client(command: ClientCommand, store: &Store, audit: &AuditLog) -> anyhow::Result<()> {
    match command {
        ClientCommand::Add(add) => add_client(*add, store, audit).await?,
        ClientCommand::List => {
            for client in store.list_clients().await? {
                print_client(&client);
            }
        }
        ClientCommand::Set(set) => set_client(set, store, audit).await?,
    }
    Ok(())
}

async fn set_client(set: SetClient, store: &Store, audit: &AuditLog) -> anyhow::Result<()> {
    let client_id = ClientId::parse(&set.client_id)?;
    let client = store
        .find_client(&client_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("client {client_id} does not exist"))?;
    let kind = ClientKind {
        grants: &client.grants,
        public: client.is_public(),
    };
    let changes = BrowserChanges::parse(
        BrowserInput {
            require_pushed_authorization_requests: set.require_par,
            introspection_signed_response_alg: set.introspection_alg.as_deref(),
            dpop_bound_access_tokens: set.require_dpop,
            allow_impersonation: set.allow_impersonation,
            ..BrowserInput::default()
        },
        kind,
    )
    .map_err(|e| anyhow::anyhow!(cli_flags(&e.0)))?;
    let sets_resources = !set.resources.is_empty() || set.no_resources;
    if changes == BrowserChanges::default() && !sets_resources {
        anyhow::bail!(
            "nothing to change: give --require-dpop, --require-par, --introspection-alg, \
             --allow-impersonation, --resource or --no-resources"
        );
    }
    if changes != BrowserChanges::default() {
        store
            .update_client_browser(
                &client_id,
                &client.registration,
                &changes,
                &Authority::Operator,
            )
            .await?;
        let detail = Some(changes.describe());
        record(audit, "client.updated", client_id.as_str(), detail).await;
    }
    if sets_resources {
        let resources = ResourceUri::parse_list(&set.resources)?;
        store
            .set_client_resources(&client_id, &resources, &Authority::Operator)
            .await?;
        let detail = format!("resources={}", resource_names(&resources));
        record(audit, "client.updated", client_id.as_str(), Some(detail)).await;
    }
    log::info!("client {client_id} updated");
    Ok(())
}

async fn add_client(add: AddClient, store: &Store, audit: &AuditLog) -> anyhow::Result<()> {
    let client_id = ClientId::parse(&add.client_id)?;
    let grants = add
        .grants
        .iter()
        .map(|g| GrantType::parse(g))
        .collect::<Result<BTreeSet<_>, _>>()?;
    if add.public && grants.contains(&GrantType::ClientCredentials) {
        anyhow::bail!("public clients may not use the client_credentials grant");
    }
    let kind = ClientKind {
        grants: &grants,
        public: add.public,
    };
    let browser = BrowserChanges::parse(
        BrowserInput {
            client_name: add.name.as_deref(),
            redirect_uris: Some(&add.redirect_uris),
            allowed_origins: Some(&add.allowed_origins),
            skip_consent: Some(add.skip_consent),
            pkce_optional: Some(add.pkce_optional),
            post_logout_redirect_uris: Some(&add.post_logout_redirect_uris),
            backchannel_logout_uri: add.backchannel_logout_uri.as_deref(),
            backchannel_logout_session_required: Some(add.backchannel_logout_session_required),
            id_token_signed_response_alg: add.id_token_alg.as_deref(),
            require_pushed_authorization_requests: Some(add.require_par),
            introspection_signed_response_alg: add.introspection_alg.as_deref(),
            dpop_bound_access_tokens: Some(add.require_dpop),
            allow_impersonation: Some(add.allow_impersonation),
        },
        kind,
    )
    .map_err(|e| anyhow::anyhow!(cli_flags(&e.0)))?;
    let resources = ResourceUri::parse_list(&add.resources)?;
    let secret = (!add.public).then(generate_secret);
    let new = NewClient {
        client_id,
        secret_hash: secret.as_deref().map(hash_secret),
        grants,
        scopes: ScopeSet::from_tokens(&add.scopes)?,
        browser: browser.into(),
    };
    store.create_client(&new, unix_now()).await?;
    if !resources.is_empty() {
        store
            .set_client_resources(&new.client_id, &resources, &Authority::Operator)
            .await?;
    }
    record(audit, "client.created", new.client_id.as_str(), None).await;
    // The secret is shown once, alone on stdout, so scripts can capture it.
    if let Some(secret) = secret {
        println!("{secret}");
    }
    log::info!("client {} registered", new.client_id);
    Ok(())
}

/// The admin API's field names in a message, as the flags that set them.
fn cli_flags(message: &str) -> String {
    message
        .replace("skip_consent", "--skip-consent")
        .replace("pkce_optional", "--pkce-optional")
        .replace("client_name", "--name")
        .replace("post_logout_redirect_uris", "--post-logout-redirect-uri")
        .replace(
            "backchannel_logout_session_required",
            "--backchannel-logout-session-required",
        )
        .replace("backchannel_logout_uri", "--backchannel-logout-uri")
        .replace("id_token_signed_response_alg", "--id-token-alg")
        .replace("require_pushed_authorization_requests", "--require-par")
        .replace("introspection_signed_response_alg", "--introspection-alg")
        .replace("dpop_bound_access_tokens", "--require-dpop")
        .replace("allow_impersonation", "--allow-impersonation")
}

async fn run_resource(
    command: ResourceCommand,
    store: &Store,
    audit: &AuditLog,
) -> anyhow::Result<()> {
    match command {
        ResourceCommand::Add { uri, scopes } => {
            let uri = ResourceUri::parse(&uri)?;
            let scopes = ScopeSet::from_tokens(&scopes)?;
            store.put_resource(&uri, &scopes, unix_now()).await?;
            let detail = format!("scopes={scopes}");
            record(audit, "resource.set", uri.as_str(), Some(detail)).await;
            println!("resource {uri}: {scopes}");
        }
        ResourceCommand::List => {
            for resource in store.list_resources().await? {
                println!("{}\t{}", resource.uri, resource.scopes);
            }
        }
        ResourceCommand::Remove { uri } => {
            let uri = ResourceUri::parse(&uri)?;
            if !store.delete_resource(&uri).await? {
                anyhow::bail!("resource {uri} does not exist");
            }
            record(audit, "resource.deleted", uri.as_str(), None).await;
            println!("resource {uri} removed");
        }
    }
    Ok(())
}

/// Resources comma-separated, as `client list` shows them.
fn resource_names(resources: &[ResourceUri]) -> String {
    resources
        .iter()
        .map(ResourceUri::as_str)
        .collect::<Vec<_>>()
        .join(",")
}

/// One tab-separated line: client_id, kind, grants, scopes, name, redirect URIs, allowed origins,
/// flags, post-logout redirect URIs, back-channel logout URI, id_token algorithm, introspection
/// response algorithm, resources (lists comma-separated; scopes space-separated as on the wire).
fn print_client(client: &Client) {
    let grants: Vec<&str> = client.grants.iter().map(|g| g.as_str()).collect();
    let browser = &client.browser;
    let uris: Vec<&str> = browser.redirect_uris.iter().map(|u| u.as_str()).collect();
    let flags: Vec<&str> = [
        ("skip-consent", browser.skip_consent),
        ("pkce-optional", browser.pkce_optional),
        (
            "backchannel-logout-session-required",
            browser.backchannel_logout_session_required,
        ),
        ("require-par", browser.require_pushed_authorization_requests),
        ("require-dpop", browser.dpop_bound_access_tokens),
        ("allow-impersonation", browser.allow_impersonation),
    ]
    .into_iter()
    .filter_map(|(flag, set)| set.then_some(flag))
    .collect();
    let post_logout: Vec<&str> = browser
        .post_logout_redirect_uris
        .iter()
        .map(|u| u.as_str())
        .collect();
    println!(
        "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
        client.client_id,
        if client.is_public() {
            "public"
        } else {
            "confidential"
        },
        grants.join(","),
        client.scopes,
        browser.client_name,
        uris.join(","),
        browser.allowed_origins.join(","),
        flags.join(","),
        post_logout.join(","),
        browser
            .backchannel_logout_uri
            .as_ref()
            .map_or("", |uri| uri.as_str()),
        browser.id_token_signed_response_alg.as_str(),
        browser.introspection_signed_response_alg.stored(),
        resource_names(&client.resources),
    );
}

async fn run_keys(
    command: KeysCommand,
    store: Store,
    settings: &Settings,
    audit: &AuditLog,
) -> anyhow::Result<()> {
    let keys = KeyManager::start(store, settings).await?;
    let only = |alg: Option<String>| -> anyhow::Result<Option<Algorithm>> {
        alg.map(|name| keys.offered_algorithm(&name)).transpose()
    };
    match command {
        KeysCommand::Rotate { alg, now } => {
            for key in keys.rotate(only(alg)?, now).await? {
                let detail = format!(
                    "{:?} signs from {}",
                    key.algorithm,
                    rfc3339(key.activates_at_ms / 1000)
                );
                record(audit, "key.rotated", &key.kid, Some(detail)).await;
                print_new_key(&key);
            }
        }
        KeysCommand::List { alg } => {
            let only = only(alg)?;
            for key in keys
                .summaries()
                .into_iter()
                .filter(|k| only.is_none_or(|alg| k.algorithm == alg))
            {
                println!(
                    "{}\t{:?}\t{}\tcreated {}\tsigns from {}",
                    key.kid,
                    key.algorithm,
                    key.state.as_str(),
                    rfc3339(key.created_at_ms / 1000),
                    rfc3339(key.activates_at_ms / 1000)
                );
            }
        }
        KeysCommand::Revoke { kid } => {
            let replacement = keys.revoke(&kid).await?;
            if let Some(key) = &replacement {
                let detail = format!(
                    "{:?} signs from now, replacing revoked {kid}",
                    key.algorithm
                );
                record(audit, "key.rotated", &key.kid, Some(detail)).await;
            }
            let detail = replacement
                .as_ref()
                .map(|key| format!("was active; replaced by {}", key.kid));
            record(audit, "key.revoked", &kid, detail).await;
            println!("revoked {kid}");
            if let Some(key) = replacement {
                print_new_key(&key);
            }
        }
        KeysCommand::Prune => {
            for kid in keys.prune().await? {
                record(audit, "key.pruned", &kid, None).await;
                println!("pruned {kid}");
            }
        }
    }
    Ok(())
}

/// One line per new key: kid, algorithm, state and when it signs.
fn print_new_key(key: &KeySummary) {
    println!(
        "{}\t{:?}\t{}\tsigns from {}",
        key.kid,
        key.algorithm,
        key.state.as_str(),
        rfc3339(key.activates_at_ms / 1000)
    );
}
