//! `?next=` on the sign-in page (`local_path`): whatever it lets through, a browser resolving it
//! against one of authd's pages stays on authd's own origin, so a link cannot send a visitor to
//! another site after they sign in. What it accepts is the input itself, a path of printable
//! ASCII of at most 512 bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use url::Url;
use web::fuzzing;

fuzz_target!(|next: &str| {
    let Some(path) = fuzzing::local_path(next) else {
        return;
    };
    assert_eq!(path, next);
    assert!(path.len() <= 512, "{path:?}");
    assert!(path.starts_with('/'), "{path:?}");
    assert!(path.bytes().all(|b| b.is_ascii_graphic()), "{path:?}");
    // Resolved as a browser resolves a `Location`, from the page that redirects and from others.
    for page in [
        "https://authd.test/login",
        "https://authd.test/auth/account?x=1",
    ] {
        let base = Url::parse(page).expect("a page URL");
        let target = base.join(path).expect("a local path resolves");
        assert_eq!(target.origin(), base.origin(), "{path:?} leaves the site");
        assert_eq!(
            (target.username(), target.password()),
            ("", None),
            "{path:?}"
        );
        assert!(target.path().starts_with('/'), "{path:?}");
    }
});
