//! The storage contract, the same on both backends.

use authd::credentials::PasswordHash;
use authd::domain::{RoleName, ScopeSet, Username};
use authd::store::{
    AuditRecord, AuthorizationCode, CodeClaim, CodeWrite, CodeWritten, NewCodeFamily, NewSession,
    NewUser, PageRequest, SessionEnding, StoreError,
};

use crate::backend_tests;
use crate::helpers::{Backend, TestApp};

fn new_user(username: &str, roles: &[&str]) -> NewUser {
    NewUser {
        username: Username::parse(username).unwrap(),
        email: None,
        full_name: Some("Test User".into()),
        disabled: false,
        password_hash: PasswordHash::from_stored(
            "$argon2id$v=19$m=256,t=1,p=1$c2FsdA$aGFzaA".into(),
        ),
        roles: roles.iter().map(|r| RoleName::parse(r).unwrap()).collect(),
    }
}

async fn usernames_are_unique_regardless_of_case(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.store
        .create_user(&new_user("Alice", &[]), 1)
        .await
        .unwrap();

    let duplicate = app.store.create_user(&new_user("ALICE", &[]), 1).await;

    assert!(
        matches!(duplicate, Err(StoreError::Conflict(_))),
        "{duplicate:?}"
    );
    let found = app
        .store
        .find_user_login(&Username::parse("aLiCe").unwrap())
        .await
        .unwrap()
        .expect("lookup is case-insensitive");
    assert_eq!(found.user.username, "alice");
}

async fn a_user_with_several_roles_holds_the_union_of_their_scopes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.add_role("reader", &["items:read", "shared"]).await;
    app.add_role("writer", &["items:write", "shared"]).await;
    let user = app
        .store
        .create_user(&new_user("bob", &["reader", "writer"]), 1)
        .await
        .unwrap();

    let scopes = app.store.scopes_of_user(&user.id).await.unwrap();

    assert_eq!(scopes.to_string(), "items:read items:write shared");
    assert_eq!(user.roles, vec!["reader", "writer"]);
}

async fn setting_a_role_replaces_its_scopes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.add_role("ops", &["a", "b"]).await;
    app.add_role("ops", &["c"]).await;
    app.add_role("empty", &[]).await;

    let roles = app.store.list_roles().await.unwrap();

    let shown: Vec<(String, String)> = roles
        .into_iter()
        .map(|r| (r.name, r.scopes.to_string()))
        .collect();
    assert_eq!(
        shown,
        vec![("empty".into(), String::new()), ("ops".into(), "c".into())]
    );
}

async fn creating_a_user_with_an_unknown_role_changes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    let result = app
        .store
        .create_user(&new_user("carol", &["ghost"]), 1)
        .await;

    assert!(
        matches!(result, Err(StoreError::UnknownReference(ref m)) if m.contains("ghost")),
        "{result:?}"
    );
    assert!(app.store.list_users().await.unwrap().is_empty());
}

async fn a_user_without_roles_has_no_scopes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app
        .store
        .create_user(&new_user("dave", &[]), 1)
        .await
        .unwrap();

    assert_eq!(
        app.store.scopes_of_user(&user.id).await.unwrap(),
        ScopeSet::default()
    );
}

async fn audit_rows_keep_how_many_events_they_stand_for(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let row = |id: &str, at_ms: i64, occurrences: i64| AuditRecord {
        id: id.to_owned(),
        at_ms,
        action: "test.coalesced".to_owned(),
        actor: Some("svc".to_owned()),
        subject: None,
        client_id: Some("svc".to_owned()),
        ip: Some("10.0.0.1".to_owned()),
        detail: Some("grant=client_credentials scope=a".to_owned()),
        occurrences,
    };

    // Recent times: the janitor deletes rows older than the retention.
    let now = authd::clock::unix_now_ms();
    app.store
        .insert_audit_records(&[row("a", now, 1), row("b", now + 1, 37)])
        .await
        .unwrap();
    app.store
        .insert_audit_records(&[row("c", now + 2, 5_000_000_000)])
        .await
        .unwrap();

    let page = PageRequest {
        limit: 10,
        offset: 0,
    };
    let found = app
        .store
        .list_audit_records(Some("test.coalesced"), page)
        .await
        .unwrap();
    let stored: Vec<(&str, i64)> = found
        .items
        .iter()
        .map(|r| (r.id.as_str(), r.occurrences))
        .collect();
    assert_eq!(stored, [("c", 5_000_000_000), ("b", 37), ("a", 1)]);
    assert_eq!(
        found.total, 3,
        "a row is counted once, whatever it stands for"
    );
}

/// Text is stored as written, whatever JSON or SQL would make of it (SQLite's batch travels as
/// JSON), and absent values stay absent, not the text "null".
async fn audit_rows_keep_awkward_text_exactly(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let now = authd::clock::unix_now_ms();
    let awkward = [
        "quote \" backslash \\ slash /",
        "tab\tnew line\ncarriage\r bell\u{7}",
        "null",
        "123",
        "[1, 2]",
        "{\"a\": 1}",
        "é ✓ 𝄞 \u{200b}",
        "'); drop table audit_events; --",
        "",
    ];
    let rows: Vec<AuditRecord> = awkward
        .iter()
        .enumerate()
        .map(|(n, text)| AuditRecord {
            id: format!("awkward-{n}"),
            at_ms: now + n as i64,
            action: "test.awkward".to_owned(),
            actor: Some((*text).to_owned()),
            subject: None,
            client_id: Some(format!("{text}-client")),
            ip: None,
            detail: Some((*text).to_owned()),
            occurrences: 1,
        })
        .collect();

    app.store.insert_audit_records(&rows).await.unwrap();

    let page = PageRequest {
        limit: 50,
        offset: 0,
    };
    let mut found = app
        .store
        .list_audit_records(Some("test.awkward"), page)
        .await
        .unwrap()
        .items;
    found.reverse();
    assert_eq!(found.len(), awkward.len());
    for (row, text) in found.iter().zip(awkward) {
        assert_eq!(row.actor.as_deref(), Some(text));
        assert_eq!(row.detail.as_deref(), Some(text));
        assert_eq!(row.client_id, Some(format!("{text}-client")));
        assert_eq!(row.subject, None);
        assert_eq!(row.ip, None);
        assert_eq!(row.occurrences, 1);
    }
    assert_eq!(found[3].at_ms, now + 3);
}

/// One code redeemed eight times in one group (as the code writer groups what waits for it):
/// exactly one redemption wins, and it is the one stored, so that what a second redemption
/// revokes (section 4.1.2 of RFC 6749) is what the winner issued: its access token and its
/// refresh family. PostgreSQL's multi-row insert may store any of the duplicates.
async fn a_code_redeemed_twice_in_one_group_stores_the_redemption_that_wins(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let user = app
        .store
        .create_user(&new_user("alice", &[]), 1)
        .await
        .unwrap();
    let now = authd::clock::unix_now();
    let session = NewSession {
        id_hash: "hash-of-session",
        handle: "session-handle",
        user_id: &user.id,
        user_generation: user.token_generation,
        amr: "pwd",
        now,
        expires_at: now + 3600,
        ip: None,
    };
    let ending = SessionEnding {
        now_ms: authd::clock::unix_now_ms(),
        revoke_access_until: None,
    };
    app.store
        .create_session(&session, 10, ending)
        .await
        .unwrap();
    let scope = ScopeSet::parse("items:read").unwrap();
    app.store
        .grant_consent(&user.id, "gallery", "registration", &scope, now)
        .await
        .unwrap();
    // Groups of several sizes: which duplicate PostgreSQL stores depends on its plan, which
    // depends on the group's size and on what the connection ran before.
    for (round, size) in [1, 2, 3, 5, 7, 8].into_iter().enumerate() {
        let code = AuthorizationCode {
            code_hash: format!("{round:0>64}"),
            client_id: "gallery".into(),
            client_registration: "registration".into(),
            redirect_uri: None,
            delivered_to: "https://gallery.example/callback".into(),
            code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into()),
            scope: "items:read".into(),
            user_id: user.id.clone(),
            user_generation: user.token_generation,
            session_handle: "session-handle".into(),
            auth_time: now,
            amr: "pwd".into(),
            nonce: None,
            expires_at: now + 60,
            redeemed_at: None,
            tell_on_logout: false,
            needs_consent: true,
            random: String::new(),
            resources: String::new(),
            dpop_jkt: None,
        };
        let writes: Vec<CodeWrite> = (0..size)
            .map(|n| {
                CodeWrite::Claim(CodeClaim {
                    code: code.clone(),
                    now,
                    access_jti: format!("jti-{round}-{n}"),
                    access_expires_at: now + 300,
                    refresh: Some(NewCodeFamily {
                        id: format!("family-{round}-{n}"),
                        family_hash: format!("family-hash-{round}-{n}"),
                        current_hash: format!("token-hash-{round}-{n}"),
                        expires_at: now + 3600,
                        dpop_jkt: None,
                    }),
                })
            })
            .collect();

        let results = app.store.write_code_group(&writes).await.unwrap();

        let winners: Vec<usize> = results
            .iter()
            .enumerate()
            .filter(|(_, result)| matches!(result, Ok(CodeWritten::Claimed(true))))
            .map(|(n, _)| n)
            .collect();
        assert_eq!(winners.len(), 1, "{size} redemptions: {results:?}");
        let winner = winners[0];
        let family = app
            .store
            .find_refresh_token(&format!("token-hash-{round}-{winner}"))
            .await
            .unwrap()
            .expect("the winner's refresh family is started");
        assert_eq!(family.id, format!("family-{round}-{winner}"));
        let revoked = app.store.revoke_code_tokens(&code.code_hash).await.unwrap();
        assert_eq!(
            revoked.map(|(jti, _)| jti),
            Some(format!("jti-{round}-{winner}")),
            "{size} redemptions: the stored one is the winner's"
        );
        for n in 0..size {
            assert!(
                !app.store
                    .revoke_refresh_family(&format!("family-{round}-{n}"))
                    .await
                    .unwrap(),
                "family-{round}-{n} outlived the revocation"
            );
        }
    }
}

backend_tests!(
    a_code_redeemed_twice_in_one_group_stores_the_redemption_that_wins,
    audit_rows_keep_how_many_events_they_stand_for,
    audit_rows_keep_awkward_text_exactly,
    usernames_are_unique_regardless_of_case,
    a_user_with_several_roles_holds_the_union_of_their_scopes,
    setting_a_role_replaces_its_scopes,
    creating_a_user_with_an_unknown_role_changes_nothing,
    a_user_without_roles_has_no_scopes,
);
