//! The operator's command line end to end: `authd users …` and `authd audit`, the real binary
//! on a real database (SQLite, and PostgreSQL when `TEST_DATABASE_URL` is set, a fresh schema
//! per test), what each command did checked through `auth`, the server and the audit log.
#![allow(clippy::unwrap_used, missing_docs)]

#[path = "cli/harness.rs"]
mod harness;

use std::path::Path;

use auth::testing::{each_backend, TestDatabase};
use auth::{AuditQuery, AuditRow, Auth, AuthError};
use harness::{command, run_with, Server, Setup, Terminal};

/// The events of the log, newest first.
fn events(auth: &Auth) -> Vec<AuditRow> {
    auth.audit_events(&AuditQuery {
        limit: 1000,
        ..AuditQuery::default()
    })
    .unwrap()
}

/// The id in `created ann@x.io (id 7)…`.
fn created_id(stdout: &str) -> i32 {
    let rest = &stdout[stdout.find("(id ").unwrap() + 4..];
    rest[..rest.find(')').unwrap()].parse().unwrap()
}

/// Makes `email` with `password` through the command line; answers its id.
fn create(setup: &Setup, email: &str, password: &str) -> i32 {
    let run = setup.run(&["users", "create", email], &format!("{password}\n"));
    created_id(run.ok())
}

/// The app's code for `secret` (base32) now.
fn totp_code_now(secret: &str) -> String {
    let bytes = totp_rs::Secret::try_from_base32(secret)
        .unwrap()
        .as_bytes()
        .to_vec();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    totp_rs::Builder::new()
        .with_secret(totp_rs::Secret::from(bytes))
        .build()
        .unwrap()
        .generate(now)
        .to_string()
}

/// Turns two-factor sign-in on for account `id` (password `password`).
fn enrol(auth: &Auth, id: i32, password: &str) {
    let enrolment = auth.begin_totp(id, password).unwrap();
    let code = totp_code_now(enrolment.secret_base32());
    auth.confirm_totp(id, "", &code).unwrap();
    assert!(auth.totp_status(id).unwrap().enabled);
}

#[test]
fn users_create_reads_the_password_from_stdin_and_the_account_signs_in() {
    each_backend(|db| {
        let setup = Setup::new(db);
        let run = setup.run(&["users", "create", "Ann@X.io"], "correct horse\n");
        let id = created_id(run.ok());
        assert_eq!(run.stdout, format!("created ann@x.io (id {id})\n"));
        let auth = setup.auth();
        let (user, _) = auth.log_in("ann@x.io", "correct horse").unwrap();
        assert_eq!(user.id, id);
        assert!(!auth.admin_find_user("ann@x.io").unwrap().verified);
        // A line end of either kind ends the password; --verified confirms the address.
        let run = setup.run(&["users", "create", "--verified", "bob@x.io"], "pw 2\r\n");
        run.ok();
        auth.log_in("bob@x.io", "pw 2").unwrap();
        assert!(auth.admin_find_user("bob@x.io").unwrap().verified);
        let made: Vec<_> = events(&auth)
            .into_iter()
            .filter(|e| e.event == "admin_user_created")
            .collect();
        assert_eq!(made.len(), 2);
        assert!(made.iter().all(|e| e.actor == "cli"), "{made:?}");
        assert_eq!(made[0].detail, r#"{"verified":true}"#);
        assert_eq!(made[1].user_id, Some(id));
    });
}

#[test]
fn users_create_without_a_password_needs_no_password_and_an_empty_stdin() {
    each_backend(|db| {
        let setup = Setup::new(db);
        let line = setup
            .run(&["users", "create", "ann@x.io"], "")
            .fails(2)
            .to_owned();
        assert!(line.contains("--no-password"), "{line}");
        let line = setup
            .run(&["users", "create", "ann@x.io"], "\n")
            .fails(2)
            .to_owned();
        assert!(line.contains("no password"), "{line}");
        let run = setup.run(&["users", "create", "--no-password", "ann@x.io"], "pw\n");
        assert!(run.fails(2).contains("one or the other"), "{run:?}");
        let auth = setup.auth();
        assert!(auth.find_user_by_email("ann@x.io").unwrap().is_none());

        let run = setup.run(&["users", "create", "--no-password", "ann@x.io"], "");
        let id = created_id(run.ok());
        assert_eq!(
            run.stdout,
            format!(
                "created ann@x.io (id {id}); no password: it is entered through a reset link\n"
            )
        );
        assert!(matches!(
            auth.log_in("ann@x.io", ""),
            Err(AuthError::InvalidCredentials)
        ));
    });
}

#[test]
fn users_create_refuses_a_taken_address_a_bad_address_and_a_weak_password() {
    each_backend(|db| {
        let setup = Setup::new(db);
        create(&setup, "ann@x.io", "pw");
        let taken = setup.run(&["users", "create", "ANN@x.io"], "other\n");
        assert_eq!(
            taken.fails(1),
            "authd: an account has the address ann@x.io already"
        );
        let bad = setup.run(&["users", "create", "not-an-address"], "pw\n");
        bad.fails(2);
        let short = setup.run(
            &["users", "create", "bob@x.io", "--min-password-length", "12"],
            "short\n",
        );
        assert_eq!(
            short.fails(2),
            "authd: password too short (at least 12 characters)"
        );
        let two = setup.run(&["users", "create", "bob@x.io"], "one\ntwo\n");
        assert!(two.fails(2).contains("more than one line"), "{two:?}");
        let auth = setup.auth();
        assert!(auth.find_user_by_email("bob@x.io").unwrap().is_none());
    });
}

#[test]
fn users_create_on_a_terminal_asks_twice_without_echo() {
    each_backend(|db| {
        let setup = Setup::new(db);
        let mut terminal = Terminal::start(setup.command(&["users", "create", "ann@x.io"]));
        terminal.wait_for("Password for the new account: ", 1);
        terminal.type_line("typed secret 1");
        terminal.wait_for("The same password again: ", 1);
        terminal.type_line("typed secret 1");
        let (status, screen) = terminal.finish();
        assert!(status.success(), "{screen}");
        assert!(!screen.contains("typed secret"), "echoed: {screen:?}");
        assert!(screen.contains("created ann@x.io (id "), "{screen:?}");
        setup.auth().log_in("ann@x.io", "typed secret 1").unwrap();

        // Two different answers make nothing.
        let mut terminal = Terminal::start(setup.command(&["users", "create", "bob@x.io"]));
        terminal.wait_for("Password for the new account: ", 1);
        terminal.type_line("one");
        terminal.wait_for("The same password again: ", 1);
        terminal.type_line("two");
        let (status, screen) = terminal.finish();
        assert_eq!(status.code(), Some(2), "{screen}");
        assert!(
            screen.contains("authd: the two passwords differ"),
            "{screen:?}"
        );
        // --no-password on a terminal asks nothing.
        let terminal =
            Terminal::start(setup.command(&["users", "create", "--no-password", "eve@x.io"]));
        let (status, screen) = terminal.finish();
        assert!(status.success(), "{screen}");
        assert!(!screen.contains("Password"), "{screen:?}");
        let auth = setup.auth();
        assert!(auth.find_user_by_email("bob@x.io").unwrap().is_none());
        assert!(auth.find_user_by_email("eve@x.io").unwrap().is_some());
    });
}

#[test]
fn the_password_prompt_edits_like_a_terminal_and_ctrl_c_leaves_it_echoing() {
    each_backend(|db| {
        let setup = Setup::new(db);
        // Backspace takes back one character (a whole one), Ctrl-U the whole line.
        let mut terminal = Terminal::start(setup.command(&["users", "create", "ann@x.io"]));
        terminal.wait_for("Password for the new account: ", 1);
        terminal.type_keys("typed secret 9é\x7f\x7f1\n".as_bytes());
        terminal.wait_for("The same password again: ", 1);
        terminal.type_keys(b"nonsense\x15typed secret 1\n");
        let (status, screen, echo) = terminal.finish_with_echo();
        assert!(status.success(), "{screen}");
        assert!(echo, "the terminal no longer echoes: {screen:?}");
        assert!(!screen.contains("typed secret"), "echoed: {screen:?}");
        setup.auth().log_in("ann@x.io", "typed secret 1").unwrap();
        // Ctrl-C at a prompt ends the command, creates nothing, and the terminal echoes again.
        let mut terminal = Terminal::start(setup.command(&["users", "create", "bob@x.io"]));
        terminal.wait_for("Password for the new account: ", 1);
        terminal.type_keys(b"half a pass\x03");
        let (status, screen, echo) = terminal.finish_with_echo();
        assert_eq!(status.code(), Some(130), "{screen}");
        assert!(screen.contains("authd: cancelled"), "{screen:?}");
        assert!(echo, "Ctrl-C left the terminal without echo: {screen:?}");
        assert!(setup
            .auth()
            .find_user_by_email("bob@x.io")
            .unwrap()
            .is_none());
    });
}

/// Inserts `n` accounts named `user{i}@bulk.test` (i from 0) in one statement.
fn insert_accounts(db: &TestDatabase, n: usize) {
    let rows: Vec<String> = (0..n)
        .map(|i| {
            format!(
                "('user{i:04}@bulk.test', '{}', 0, 1700000000)",
                auth::testing::TEST_HASH
            )
        })
        .collect();
    db.execute(&format!(
        "INSERT INTO users (email, hashed_password, failed_logins, created_at) VALUES {}",
        rows.join(", ")
    ));
}

#[test]
fn users_list_shows_every_account_in_a_table_and_as_json_lines() {
    each_backend(|db| {
        let setup = Setup::new(db);
        let ann = create(&setup, "ann@x.io", "pw");
        // More than one page of 500, after ann.
        insert_accounts(db, 520);
        let auth = setup.auth();
        auth.log_in("ann@x.io", "pw").unwrap();

        let table = setup.run(&["users", "list"], "");
        let lines: Vec<&str> = table.ok().lines().collect();
        assert_eq!(lines.len(), 1 + 521, "{}", &table.stdout[..500]);
        assert_eq!(
            lines[0],
            "     ID  VERIFIED  DISABLED  TWO-FACTOR  PASSKEYS  SESSIONS  CREATED               \
             EMAIL"
        );
        assert!(lines[1].starts_with(&format!("{ann:>7}  no        no        no   ")));
        assert!(lines[1].ends_with("  ann@x.io"), "{}", lines[1]);
        assert!(
            lines[1].contains("        1  20"),
            "one session: {}",
            lines[1]
        );
        assert!(lines[2].contains("  2023-11-14T22:13:20Z  user0000@bulk.test"));

        let json = setup.run(&["users", "list", "--json"], "").json_lines();
        assert_eq!(json.len(), 521);
        let ids: Vec<i64> = json.iter().map(|u| u["id"].as_i64().unwrap()).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "by id, each once");
        assert_eq!(json[0]["email"], "ann@x.io");
        assert_eq!(json[0]["sessions"], 1);
        assert_eq!(json[0]["verified"], false);
        assert_eq!(json[0]["disabled"], false);
        assert_eq!(json[0]["two_factor"], false);
        assert_eq!(json[0]["passkeys"], 0);
        assert!(json[0]["created_at"].is_i64());
        assert_eq!(json[1]["created_at"], 1_700_000_000);

        // --email: a substring in any case; --limit: the first ones.
        let found = setup.run(&["users", "list", "--email", "USER01", "--json"], "");
        let emails: Vec<String> = found
            .json_lines()
            .iter()
            .map(|u| u["email"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(emails.len(), 100);
        assert!(emails.iter().all(|e| e.starts_with("user01")), "{emails:?}");
        let first = setup.run(&["users", "list", "--limit", "2", "--json"], "");
        assert_eq!(first.json_lines().len(), 2);
        let none = setup.run(&["users", "list", "--email", "nobody"], "");
        assert_eq!(none.ok().lines().count(), 1, "the header alone");
    });
}

#[test]
fn users_list_into_a_closed_pipe_exits_quietly() {
    let db = TestDatabase::sqlite();
    let setup = Setup::new(&db);
    setup.auth();
    insert_accounts(&db, 600);
    let mut child = setup
        .command(&["users", "list"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The reader goes before the first row is written (opening the database comes first).
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert_eq!(stderr, "");
}

#[test]
fn users_disable_ends_the_sessions_and_refuses_sign_in_until_enabled() {
    each_backend(|db| {
        let setup = Setup::new(db);
        let id = create(&setup, "ann@x.io", "pw");
        let auth = setup.auth();
        let (_, session) = auth.log_in("ann@x.io", "pw").unwrap();

        let run = setup.run(&["users", "disable", "ann@x.io"], "");
        assert_eq!(
            run.ok(),
            format!("disabled ann@x.io (id {id}): it cannot sign in, and its sessions ended\n")
        );
        assert!(auth.authenticate(session.expose()).unwrap().is_none());
        let server = Server::start(&setup);
        assert_eq!(
            server.log_in("ann@x.io", "pw"),
            (403, "{\"message\":\"account disabled\"}\n".to_owned())
        );
        let listed = setup.run(&["users", "list", "--json"], "").json_lines();
        assert_eq!(listed[0]["disabled"], true);
        // Again: nothing to do, nothing recorded.
        let again = setup.run(&["users", "disable", "ann@x.io"], "");
        assert_eq!(
            again.ok(),
            format!("ann@x.io (id {id}) was already disabled\n")
        );

        let run = setup.run(&["users", "enable", "ann@x.io"], "");
        assert_eq!(run.ok(), format!("enabled ann@x.io (id {id})\n"));
        assert_eq!(server.log_in("ann@x.io", "pw").0, 200);
        let again = setup.run(&["users", "enable", "ann@x.io"], "");
        assert_eq!(again.ok(), format!("ann@x.io (id {id}) was not disabled\n"));

        let names: Vec<String> = events(&auth)
            .into_iter()
            .filter(|e| e.actor == "cli" && e.user_id == Some(id))
            .map(|e| e.event)
            .collect();
        assert_eq!(
            names,
            [
                "admin_user_enabled",
                "admin_user_disabled",
                "admin_user_created"
            ]
        );
    });
}

#[test]
fn users_revoke_sessions_ends_every_session_made_before() {
    each_backend(|db| {
        let setup = Setup::new(db);
        let id = create(&setup, "ann@x.io", "pw");
        let auth = setup.auth();
        let (_, one) = auth.log_in("ann@x.io", "pw").unwrap();
        let (_, two) = auth.log_in("ann@x.io", "pw").unwrap();
        let run = setup.run(&["users", "revoke-sessions", "ann@x.io"], "");
        assert_eq!(
            run.ok(),
            format!("ended 2 session(s) of ann@x.io (id {id})\n")
        );
        for session in [one, two] {
            assert!(auth.authenticate(session.expose()).unwrap().is_none());
        }
        // The account itself still signs in.
        auth.log_in("ann@x.io", "pw").unwrap();
        let revoked: Vec<_> = events(&auth)
            .into_iter()
            .filter(|e| e.event == "admin_sessions_revoked")
            .collect();
        assert_eq!(revoked.len(), 1);
        assert_eq!(revoked[0].actor, "cli");
        assert_eq!(revoked[0].detail, r#"{"revoked":2}"#);
    });
}

#[test]
fn users_reset_two_factor_lets_the_password_alone_sign_in() {
    each_backend(|db| {
        let setup = Setup::new(db);
        let id = create(&setup, "ann@x.io", "pw");
        let auth = setup.auth();
        enrol(&auth, id, "pw");
        assert!(matches!(
            auth.log_in("ann@x.io", "pw"),
            Err(AuthError::SecondFactorRequired(_))
        ));
        let listed = setup.run(&["users", "list", "--json"], "").json_lines();
        assert_eq!(listed[0]["two_factor"], true);

        let run = setup.run(&["users", "reset-two-factor", "ann@x.io"], "");
        assert_eq!(
            run.ok(),
            format!(
                "two-factor sign-in turned off for ann@x.io (id {id}), its recovery codes \
                 removed: it signs in with its password and may set up a new authenticator\n"
            )
        );
        let status = auth.totp_status(id).unwrap();
        assert!(!status.enabled && status.recovery_codes_left == 0);
        auth.log_in("ann@x.io", "pw").unwrap();
        let again = setup.run(&["users", "reset-two-factor", "ann@x.io"], "");
        assert_eq!(
            again.fails(1),
            format!("authd: ann@x.io (id {id}) has no two-factor sign-in: nothing changed")
        );
        let reset: Vec<_> = events(&auth)
            .into_iter()
            .filter(|e| e.event == "admin_two_factor_reset")
            .collect();
        assert_eq!(reset.len(), 1);
        assert_eq!(
            (reset[0].actor.as_str(), reset[0].user_id),
            ("cli", Some(id))
        );
    });
}

#[test]
fn users_delete_needs_yes_without_a_terminal_and_then_removes_the_account() {
    each_backend(|db| {
        let setup = Setup::new(db);
        let id = create(&setup, "ann@x.io", "pw");
        let auth = setup.auth();
        let (_, session) = auth.log_in("ann@x.io", "pw").unwrap();
        let refused = setup.run(&["users", "delete", "ann@x.io"], "y\n");
        assert_eq!(
            refused.fails(2),
            "authd: no terminal to confirm the deletion on: pass --yes"
        );
        assert!(auth.find_user_by_email("ann@x.io").unwrap().is_some());

        let run = setup.run(&["users", "delete", "--yes", "ann@x.io"], "");
        assert_eq!(
            run.ok(),
            format!(
                "deleted ann@x.io (id {id}) with its sessions, passkeys, two-factor codes and \
                 tokens\n"
            )
        );
        assert!(auth.find_user_by_email("ann@x.io").unwrap().is_none());
        assert!(auth.authenticate(session.expose()).unwrap().is_none());
        // The address is free again.
        create(&setup, "ann@x.io", "pw2");
        let deleted: Vec<_> = events(&auth)
            .into_iter()
            .filter(|e| e.event == "admin_user_deleted")
            .collect();
        assert_eq!(deleted.len(), 1);
        assert_eq!(
            (deleted[0].actor.as_str(), deleted[0].user_id),
            ("cli", Some(id))
        );
    });
}

#[test]
fn users_delete_on_a_terminal_asks_first() {
    each_backend(|db| {
        let setup = Setup::new(db);
        let id = create(&setup, "ann@x.io", "pw");
        let question = format!(
            "Delete ann@x.io (id {id}) with its 0 session(s), its passkeys, two-factor codes and \
             tokens? This cannot be undone. [y/N] "
        );
        let mut terminal = Terminal::start(setup.command(&["users", "delete", "ann@x.io"]));
        terminal.wait_for(&question, 1);
        terminal.type_line("n");
        let (status, screen) = terminal.finish();
        assert_eq!(status.code(), Some(1), "{screen}");
        assert!(
            screen.contains("authd: ann@x.io not deleted (answer y to delete)"),
            "{screen:?}"
        );
        let auth = setup.auth();
        assert!(auth.find_user_by_email("ann@x.io").unwrap().is_some());

        let mut terminal = Terminal::start(setup.command(&["users", "delete", "ann@x.io"]));
        terminal.wait_for(&question, 1);
        terminal.type_line("yes");
        let (status, screen) = terminal.finish();
        assert!(status.success(), "{screen}");
        assert!(screen.contains("deleted ann@x.io"), "{screen:?}");
        assert!(auth.find_user_by_email("ann@x.io").unwrap().is_none());
    });
}

#[test]
fn every_command_naming_an_unknown_address_exits_1_and_changes_nothing() {
    each_backend(|db| {
        let setup = Setup::new(db);
        create(&setup, "ann@x.io", "pw");
        let before = events(&setup.auth()).len();
        for args in [
            &["users", "disable", "nobody@x.io"][..],
            &["users", "enable", "nobody@x.io"],
            &["users", "delete", "--yes", "nobody@x.io"],
            &["users", "revoke-sessions", "nobody@x.io"],
            &["users", "reset-two-factor", "nobody@x.io"],
            &["users", "disable", "not an address"],
            &["audit", "--user", "nobody@x.io"],
        ] {
            let run = setup.run(args, "");
            let address = args.last().unwrap();
            assert_eq!(
                run.fails(1),
                format!("authd: no account has the address {address}"),
                "{args:?}"
            );
        }
        assert_eq!(events(&setup.auth()).len(), before);
    });
}

#[test]
fn bad_usage_exits_2_with_one_line_and_opens_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("authd.db");
    let key = dir.path().join("authd.key");
    for args in [
        &["users", "create"][..],
        &["users", "create", "ann@x.io", "secret"],
        &["users", "create", "ann@x.io", "--password", "secret"],
        &["users", "disable"],
        &["users", "frobnicate", "ann@x.io"],
        &["users", "list", "--limit", "0"],
        &["audit", "--since", "yesterday"],
        &["audit", "--since", "2026-13-01T00:00:00Z"],
        &["audit", "--event", "nonsense"],
        &["audit", "--limit", "-1"],
    ] {
        let run = run_with(command(database.to_str().unwrap(), &key, args), "pw\n");
        run.fails(2);
    }
    assert!(!database.exists(), "nothing opened or made");
    assert!(!key.exists());
}

#[test]
fn an_unreachable_database_exits_1_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("authd.key");
    std::fs::write(&key, format!("{}\n", "5a".repeat(32))).unwrap();
    let url = "postgres://postgres@127.0.0.1:1/none";
    for args in [
        &["users", "list", "--db-connect-timeout", "1"][..],
        &["audit", "--db-connect-timeout", "1"],
    ] {
        let run = run_with(command(url, &key, args), "");
        let line = run.fails(1);
        assert!(
            line.starts_with("authd: database unavailable: "),
            "{args:?}: {line}"
        );
    }
}

/// Writes an event `age_secs` old, by `actor`, for account `user_id`.
fn insert_event(db: &TestDatabase, name: &str, user_id: i32, age_secs: i64) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    db.execute(&format!(
        "INSERT INTO audit_events (at, event, user_id, actor, ip, detail) \
         VALUES ({}, '{name}', {user_id}, 'user', '198.51.100.7', '{{}}')",
        now - age_secs
    ));
}

#[test]
fn audit_shows_the_command_lines_changes_with_the_actor_cli() {
    each_backend(|db| {
        let setup = Setup::new(db);
        let ann = create(&setup, "ann@x.io", "pw");
        let bob = create(&setup, "bob@x.io", "pw");
        let auth = setup.auth();
        auth.log_in("ann@x.io", "pw").unwrap();
        enrol(&auth, ann, "pw");
        for args in [
            &["users", "disable", "ann@x.io"][..],
            &["users", "enable", "ann@x.io"],
            &["users", "reset-two-factor", "ann@x.io"],
            &["users", "revoke-sessions", "bob@x.io"],
            &["users", "delete", "--yes", "bob@x.io"],
        ] {
            setup.run(args, "").ok();
        }
        let json = setup.run(&["audit", "--json"], "").json_lines();
        let by_cli: Vec<(&str, i64)> = json
            .iter()
            .filter(|e| e["actor"] == "cli")
            .map(|e| (e["event"].as_str().unwrap(), e["user_id"].as_i64().unwrap()))
            .collect();
        let (ann, bob) = (i64::from(ann), i64::from(bob));
        assert_eq!(
            by_cli,
            [
                ("admin_user_deleted", bob),
                ("admin_two_factor_reset", ann),
                ("admin_user_enabled", ann),
                ("admin_user_disabled", ann),
                ("admin_user_created", bob),
                ("admin_user_created", ann),
            ]
        );
        let ids: Vec<i64> = json.iter().map(|e| e["id"].as_i64().unwrap()).collect();
        assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first");
        for event in &json {
            for field in ["at", "event", "user_id", "actor", "ip", "user_agent"] {
                assert!(event.get(field).is_some(), "{field} in {event}");
            }
            assert!(event["detail"].is_object(), "{event}");
            assert!(event.get("request_id").is_some());
        }
        // bob had no session: revoking ended none, and recorded nothing.
        assert!(!json.iter().any(|e| e["event"] == "admin_sessions_revoked"));

        // --user, --event, --limit; the table.
        let anns = setup.run(&["audit", "--user", "ann@x.io", "--json"], "");
        let anns = anns.json_lines();
        assert!(anns.iter().all(|e| e["user_id"] == ann), "{anns:?}");
        assert_eq!(anns[0]["event"], "admin_two_factor_reset");
        let disabled = setup.run(&["audit", "--event", "admin_user_disabled", "--json"], "");
        assert_eq!(disabled.json_lines().len(), 1);
        let newest = setup
            .run(&["audit", "--limit", "1", "--json"], "")
            .json_lines();
        assert_eq!(newest.len(), 1);
        assert_eq!(newest[0]["event"], "admin_user_deleted");
        let table = setup.run(&["audit", "--event", "admin_user_enabled"], "");
        let lines: Vec<&str> = table.ok().lines().collect();
        assert_eq!(
            lines[0],
            "AT                    EVENT                       ACTOR      USER  ADDRESS          \
             DETAIL"
        );
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(
            lines[1].contains(&format!(
                "  admin_user_enabled          cli     {ann:>7}  -                {{}}"
            )),
            "{}",
            lines[1]
        );
    });
}

#[test]
fn audit_since_leaves_out_older_events_and_pages_through_many() {
    each_backend(|db| {
        let setup = Setup::new(db);
        let ann = create(&setup, "ann@x.io", "pw");
        insert_event(db, "login_failed", ann, 2 * 24 * 3600);
        insert_event(db, "login_failed", ann, 9 * 24 * 3600);
        let count = |since: &str| {
            setup
                .run(&["audit", "--since", since, "--json"], "")
                .json_lines()
                .len()
        };
        assert_eq!(count("24h"), 1, "the creation alone");
        assert_eq!(count("3d"), 2);
        assert_eq!(count("2w"), 3);
        assert_eq!(count("2099-01-01T00:00:00Z"), 0);
        assert_eq!(count("2000-01-01T00:00:00+02:00"), 3);

        // More than a page of 500, each once, newest first.
        let values: Vec<String> = (0..1100)
            .map(|i| format!("({}, 'login_failed', {ann}, 'user', '{{}}')", 1_000_000 + i))
            .collect();
        db.execute(&format!(
            "INSERT INTO audit_events (at, event, user_id, actor, detail) VALUES {}",
            values.join(", ")
        ));
        let all = setup.run(&["audit", "--json"], "").json_lines();
        assert_eq!(all.len(), 1103);
        let ids: Vec<i64> = all.iter().map(|e| e["id"].as_i64().unwrap()).collect();
        assert!(ids.windows(2).all(|w| w[0] > w[1]));
        let limited = setup.run(&["audit", "--limit", "700", "--json"], "");
        assert_eq!(limited.json_lines().len(), 700);
    });
}

/// The lines of the README's "An operator's day" that run `authd`.
fn readme_commands() -> Vec<String> {
    let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md");
    let readme = std::fs::read_to_string(readme).unwrap();
    let day = &readme[readme.find("### An operator's day").unwrap()..];
    let day = &day[..day[4..].find("\n#").map_or(day.len(), |end| end + 4)];
    let mut commands = Vec::new();
    let mut rest = day;
    while let Some(start) = rest.find("```sh\n") {
        let block = &rest[start + "```sh\n".len()..];
        let end = block.find("```").unwrap();
        commands.extend(
            block[..end]
                .replace("\\\n", " ")
                .lines()
                .filter(|line| line.starts_with("authd ") || line.contains("| authd "))
                .map(str::to_owned),
        );
        rest = &block[end + 3..];
    }
    commands
}

#[test]
fn the_readmes_operator_commands_work_as_written() {
    each_backend(|db| {
        let setup = Setup::new(db);
        let auth = setup.auth();
        // The day's cast: an account with two-factor on, signed in.
        let id = create(&setup, "bob@example.com", "bob's password");
        enrol(&auth, id, "bob's password");
        create(&setup, "ann@example.com", "ann's password");
        auth.log_in("ann@example.com", "ann's password").unwrap();
        // What each line's output must hold, in order: a line added to the README needs a row.
        let expected = [
            "created carol@example.com (id ",
            "  bob@example.com",
            r#""email":"bob@example.com""#,
            "disabled bob@example.com",
            "two-factor sign-in turned off for bob@example.com",
            "enabled bob@example.com",
            "ended 1 session(s) of ann@example.com",
            "admin_user_enabled",
            r#""event":"admin_two_factor_reset""#,
        ];
        let lines = readme_commands();
        assert_eq!(lines.len(), expected.len(), "{lines:#?}");
        // `authd` is found on the PATH, as it would be installed.
        let binary = Path::new(env!("CARGO_BIN_EXE_authd"));
        let path = format!(
            "{}:{}",
            binary.parent().unwrap().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        for (line, expected) in lines.iter().zip(expected) {
            let mut shell = std::process::Command::new("sh");
            shell
                .args(["-c", line])
                .env("PATH", &path)
                .env("DATABASE_URL", db.url())
                .env("AUTHD_SECRET_KEY_FILE", &setup.key)
                .env("AUTHD_BCRYPT_COST", "4")
                .env("NEW_PASSWORD", "carol's first password")
                .env_remove("RUST_LOG");
            let run = run_with(shell, "");
            assert!(run.ok().contains(expected), "{line}\n{run:#?}");
        }
    });
}
