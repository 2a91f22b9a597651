//! `?rd=` on the sign-in pages (`return_url`): whatever it lets through, a browser following it
//! lands on the public URL's host or a name within the cookie domain, over the public URL's
//! scheme, with no user or password, so a link cannot send a person to another site after
//! they sign in, whatever the encoding (`//evil`, `https:evil`, backslashes, `@`, percent-encoded
//! dots, case, tabs and newlines, IDN).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use url::Url;
use web::fuzzing;
use web::Site;

fn site() -> &'static Site {
    static SITE: OnceLock<Site> = OnceLock::new();
    SITE.get_or_init(|| Site::new("https://auth.example.com", Some("example.com")).unwrap())
}

fn allowed(host: &str) -> bool {
    host == "example.com" || host.ends_with(".example.com")
}

fuzz_target!(|rd: &str| {
    let Some(back) = fuzzing::return_url(rd, site()) else {
        return;
    };
    assert!(rd.len() <= 2048, "{rd:?}");
    assert!(back.bytes().all(|b| b.is_ascii_graphic()), "{back:?}");
    // As a browser reads the `Location` it is sent, from any page.
    for page in [
        "https://auth.example.com/login",
        "https://app.example.com/a/b?c",
    ] {
        let target = Url::parse(page)
            .expect("a page URL")
            .join(&back)
            .expect("an accepted rd resolves");
        assert_eq!(target.scheme(), "https", "{rd:?} -> {back:?}");
        let host = target.host_str().unwrap_or_default();
        assert!(allowed(host), "{rd:?} -> {back:?} leaves for {host:?}");
        assert_eq!((target.username(), target.password()), ("", None), "{rd:?}");
        assert_eq!(target.as_str(), back, "{rd:?}: not absolute as sent");
    }
    // And the input itself, read as a URL, names the same host.
    let parsed = Url::parse(rd).expect("an accepted rd parses");
    assert_eq!(parsed.host_str(), Url::parse(&back).unwrap().host_str());
});
