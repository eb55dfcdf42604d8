//! The `authd` binary end to end: CLI commands, configuration layering, errors.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const AUTHD: &str = env!("CARGO_BIN_EXE_authd");

/// Runs authd in `dir` with `args`, feeding `stdin`, with a clean AUTHD_* environment.
fn authd(dir: &Path, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(AUTHD);
    command
        .current_dir(dir)
        .args(args)
        .env("RUST_LOG", "warn")
        .env("AUTHD_PASSWORDS__MEMORY_KIB", "256")
        .env("AUTHD_PASSWORDS__ITERATIONS", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, _) in std::env::vars()
        .filter(|(k, _)| k.starts_with("AUTHD_") && !k.starts_with("AUTHD_PASSWORDS__"))
    {
        command.env_remove(key);
    }
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("starting authd");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn assert_fails_with(output: &Output, needle: &str) {
    assert!(!output.status.success(), "expected failure, got {output:?}");
    let last = stderr(output).lines().last().unwrap_or_default().to_owned();
    assert!(
        last.starts_with("error: ") && last.contains(needle),
        "last stderr line: {last:?}"
    );
}

#[test]
fn the_walkthrough_from_the_readme_works_on_a_brand_new_database() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    let role = authd(
        d,
        &["role", "set", "admin", "users:read", "users:write"],
        "",
        &[],
    );
    let user = authd(
        d,
        &[
            "user",
            "add",
            "alice",
            "--role",
            "admin",
            "--email",
            "a@example.test",
        ],
        "pw-123456\n",
        &[],
    );
    let client = authd(
        d,
        &[
            "client",
            "add",
            "svc",
            "--grant",
            "client_credentials",
            "--scope",
            "introspect",
        ],
        "",
        &[],
    );

    assert!(role.status.success(), "{role:?}");
    assert!(user.status.success(), "{user:?}");
    assert!(client.status.success(), "{client:?}");
    assert!(
        d.join("authd.db").exists(),
        "the default SQLite database is created"
    );
    let secret = stdout(&client);
    assert_eq!(
        secret.lines().count(),
        1,
        "only the secret on stdout: {secret:?}"
    );
    assert!(secret.trim().len() >= 43);
    let users = stdout(&authd(d, &["user", "list"], "", &[]));
    assert!(
        users.contains("alice") && users.contains("admin") && users.contains("a@example.test"),
        "{users}"
    );
    let roles = stdout(&authd(d, &["role", "list"], "", &[]));
    assert!(roles.contains("admin\tusers:read users:write"), "{roles}");
    let clients = stdout(&authd(d, &["client", "list"], "", &[]));
    assert!(
        clients.contains("svc\tconfidential\tclient_credentials\tintrospect"),
        "{clients}"
    );
    assert!(!clients.contains(secret.trim()), "secrets are never listed");
}

#[test]
fn a_public_client_prints_nothing_and_may_not_use_client_credentials() {
    let dir = tempfile::tempdir().unwrap();

    let public = authd(
        dir.path(),
        &[
            "client",
            "add",
            "spa",
            "--grant",
            "password",
            "--grant",
            "refresh_token",
            "--public",
        ],
        "",
        &[],
    );
    let refused = authd(
        dir.path(),
        &[
            "client",
            "add",
            "bad",
            "--grant",
            "client_credentials",
            "--public",
        ],
        "",
        &[],
    );

    assert!(public.status.success());
    assert_eq!(stdout(&public), "");
    assert_fails_with(&refused, "public clients");
}

#[test]
fn cli_errors_are_one_clear_line_and_a_failure_status() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    authd(d, &["role", "set", "admin"], "", &[]);
    assert!(
        authd(d, &["user", "add", "Bob"], "pw-123456\n", &[])
            .status
            .success()
    );

    assert_fails_with(
        &authd(
            d,
            &["user", "add", "carol", "--role", "ghost"],
            "pw-123456\n",
            &[],
        ),
        "role ghost does not exist",
    );
    assert_fails_with(
        &authd(d, &["user", "add", "BOB"], "pw-123456\n", &[]),
        "already exists",
    );
    assert_fails_with(
        &authd(d, &["user", "add", "dave"], "\n", &[]),
        "password must not be empty",
    );
    assert_fails_with(
        &authd(d, &["user", "add", "dave"], "short\n", &[]),
        "at least 8 characters",
    );
    assert_fails_with(
        &authd(d, &["user", "add", "no spaces"], "pw-123456\n", &[]),
        "username",
    );
    assert_fails_with(
        &authd(d, &["user", "disable", "nobody"], "", &[]),
        "does not exist",
    );
    assert_fails_with(
        &authd(d, &["client", "add", "x", "--grant", "implicit"], "", &[]),
        "unsupported grant type",
    );
}

#[test]
fn passwd_disable_and_enable_change_the_user() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert!(
        authd(d, &["user", "add", "erin"], "first-password\n", &[])
            .status
            .success()
    );

    assert!(
        authd(d, &["user", "passwd", "ERIN"], "second-password\n", &[])
            .status
            .success()
    );
    assert!(
        authd(d, &["user", "disable", "erin"], "", &[])
            .status
            .success()
    );
    let disabled = stdout(&authd(d, &["user", "list"], "", &[]));
    assert!(
        authd(d, &["user", "enable", "erin"], "", &[])
            .status
            .success()
    );
    let enabled = stdout(&authd(d, &["user", "list"], "", &[]));

    assert!(disabled.contains("\tdisabled\t"), "{disabled}");
    assert!(enabled.contains("\tenabled\t"), "{enabled}");
}

#[test]
fn environment_variables_override_the_config_file_which_overrides_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let config = d.join("authd.toml");
    std::fs::write(&config, "[database]\nurl = \"sqlite://from-file.db\"\n").unwrap();

    let from_file = authd(
        d,
        &["--config", config.to_str().unwrap(), "migrate"],
        "",
        &[],
    );
    let from_env = authd(
        d,
        &["migrate", "--config", config.to_str().unwrap()],
        "",
        &[("AUTHD_DATABASE__URL", "sqlite://from-env.db")],
    );
    let via_variable = authd(
        d,
        &["role", "list"],
        "",
        &[("AUTHD_CONFIG", config.to_str().unwrap())],
    );

    assert!(from_file.status.success(), "{from_file:?}");
    assert!(from_env.status.success(), "{from_env:?}");
    assert!(via_variable.status.success(), "{via_variable:?}");
    assert!(d.join("from-file.db").exists());
    assert!(d.join("from-env.db").exists());
    assert!(!d.join("authd.db").exists(), "defaults were overridden");
}

#[test]
fn a_bad_setting_stops_start_up_with_a_line_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();

    let bad_number = authd(
        dir.path(),
        &["migrate"],
        "",
        &[("AUTHD_TOKENS__ACCESS_TTL_SECS", "soon")],
    );
    let bad_bind = authd(
        dir.path(),
        &["serve"],
        "",
        &[("AUTHD_SERVER__BIND", "everywhere")],
    );
    let typo = authd(
        dir.path(),
        &["migrate"],
        "",
        &[("AUTHD_DATABSE__URL", "sqlite://x.db")],
    );
    let missing_file = authd(dir.path(), &["--config", "nope.toml", "migrate"], "", &[]);

    assert_fails_with(&bad_number, "tokens.access_ttl_secs");
    assert_fails_with(&bad_bind, "server.bind");
    assert_fails_with(&typo, "databse");
    assert_fails_with(&missing_file, "nope.toml");
}

#[test]
fn key_rotation_and_listing_work_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    let first = authd(d, &["keys", "list"], "", &[]);
    let rotated = authd(d, &["keys", "rotate"], "", &[]);
    let listed = stdout(&authd(d, &["keys", "list"], "", &[]));
    let now = authd(d, &["keys", "rotate", "--now"], "", &[]);
    let after = stdout(&authd(d, &["keys", "list"], "", &[]));

    for alg in ["EdDSA", "ES256", "RS256"] {
        let active = format!("\t{alg}\tactive\t");
        assert_eq!(stdout(&first).matches(&active).count(), 1, "{first:?}");
        assert_eq!(
            stdout(&rotated)
                .matches(&format!("\t{alg}\tpending\t"))
                .count(),
            1,
            "{rotated:?}"
        );
        assert_eq!(stdout(&now).matches(&active).count(), 1, "{now:?}");
        assert_eq!(after.matches(&active).count(), 1, "{after}");
    }
    assert_eq!(stdout(&rotated).lines().count(), 3, "{rotated:?}");
    assert_eq!(listed.lines().count(), 6, "{listed}");
    // --now withdrew the three pending keys and retired the three first ones.
    assert_eq!(after.lines().count(), 6, "{after}");
    assert!(authd(d, &["keys", "prune"], "", &[]).status.success());
}

#[test]
fn keys_rotate_and_list_act_on_one_algorithm_with_alg() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    let rotated = stdout(&authd(
        d,
        &["keys", "rotate", "--alg", "rs256", "--now"],
        "",
        &[],
    ));
    let rsa = stdout(&authd(d, &["keys", "list", "--alg", "RS256"], "", &[]));
    let ec = stdout(&authd(d, &["keys", "list", "--alg", "Es256"], "", &[]));
    let unknown = authd(d, &["keys", "rotate", "--alg", "HS256"], "", &[]);
    let none = authd(d, &["keys", "list", "--alg", "none"], "", &[]);
    let hs256 = authd(
        d,
        &["keys", "rotate", "--alg", "EdDSA"],
        "",
        &[
            ("AUTHD_TOKENS__ALGORITHM", "HS256"),
            (
                "AUTHD_TOKENS__HS256_SECRET",
                "0123456789abcdef0123456789abcdef",
            ),
        ],
    );

    assert_eq!(rotated.lines().count(), 1, "{rotated}");
    assert!(rotated.contains("\tRS256\tactive\t"), "{rotated}");
    assert_eq!(rsa.lines().count(), 2, "{rsa}");
    assert!(rsa.lines().all(|l| l.contains("\tRS256\t")), "{rsa}");
    assert!(
        rsa.contains("\tretired\t") && rsa.contains("\tactive\t"),
        "{rsa}"
    );
    assert_eq!(ec.lines().count(), 1, "{ec}");
    assert!(ec.contains("\tES256\tactive\t"), "{ec}");
    assert_fails_with(
        &unknown,
        "unknown key algorithm \"HS256\": offered are RS256, ES256, EdDSA",
    );
    assert_fails_with(&none, "unknown key algorithm \"none\"");
    assert_fails_with(&hs256, "no key algorithms are offered");
}
