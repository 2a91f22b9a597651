//! The README's "Audit log" names every event, in the order `AuditEvent::ALL` has them.

const README: &str = include_str!("../../../../../README.md");

#[test]
fn the_readme_lists_every_audit_event_once_in_order() {
    let section = &README[README.find("\n### Audit log\n").unwrap()..];
    let section = &section[..section[1..].find("\n## ").unwrap()];
    let listed: Vec<&str> = section
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .map(|row| row.split('`').next().unwrap())
        .collect();
    let events: Vec<&str> = auth::AuditEvent::ALL.iter().map(|e| e.as_str()).collect();
    assert_eq!(listed, events);
}

#[test]
fn the_readme_shows_the_activity_route_and_the_retention_flag() {
    assert!(README.contains("| `GET /profile/activity` cookie |"));
    assert!(README.contains("| `--audit-retention-days` | `AUTHD_AUDIT_RETENTION_DAYS` | `365` |"));
}
