//! Paging through a thousand accounts while others are added and deleted between pages.

use std::collections::{BTreeSet, HashMap};

use super::*;

each_backend!(
    paging_through_a_thousand_accounts_while_others_come_and_go_lists_each_lasting_one_once
);
async fn paging_through_a_thousand_accounts_while_others_come_and_go_lists_each_lasting_one_once(
    backend: Backend,
) {
    let app = spawn_admin(backend).await;
    let auth = app.auth.clone();
    let initial: Vec<i32> = tokio::task::spawn_blocking(move || {
        (0..1000)
            .map(|i| {
                auth.admin_create_user(&format!("u{i:04}@x.io"), None, true)
                    .unwrap()
                    .id
            })
            .collect()
    })
    .await
    .unwrap();
    // Deleted between pages: some already listed, some not yet, in a scattered order.
    let mut doomed: Vec<i32> = initial.iter().copied().filter(|id| id % 7 == 3).collect();
    doomed.sort_by_key(|id| (id * 7919) % 1009);
    let mut deleted = BTreeSet::new();
    let mut seen: HashMap<i64, usize> = HashMap::new();
    let mut after: Option<i64> = None;
    let mut pages = 0;
    loop {
        let path = match after {
            Some(after) => format!("/admin/users?limit=97&after={after}"),
            None => "/admin/users?limit=97".to_owned(),
        };
        let page = json_body(app.get(&path).await, 200).await;
        for user in page["users"].as_array().unwrap() {
            *seen.entry(user["id"].as_i64().unwrap()).or_default() += 1;
        }
        pages += 1;
        let Some(next) = page["next"].as_i64() else {
            break;
        };
        after = Some(next);
        // Between pages: three accounts go, two come.
        for _ in 0..3 {
            if let Some(id) = doomed.pop() {
                app.auth.admin_delete_user(id).unwrap();
                deleted.insert(id);
            }
        }
        for n in 0..2 {
            app.auth
                .admin_create_user(&format!("new{pages}-{n}@x.io"), None, true)
                .unwrap();
        }
    }
    assert!(pages > 10, "{pages} pages");
    assert!(deleted.len() > 25, "{} deleted", deleted.len());
    assert!(seen.values().all(|&n| n == 1), "an account listed twice");
    for id in initial.iter().filter(|id| !deleted.contains(id)) {
        assert_eq!(seen.get(&i64::from(*id)), Some(&1), "account {id} lost");
    }
}
