//! `Branding`: how the pages look as the product's own — its name, its logo (also the
//! favicon), its accent colour and its own CSS. Built once, checked by its constructors; the
//! pages (`pages/assets.rs`) serve the logo and the generated stylesheet at URLs holding a
//! hash of their content.

mod colour;

use std::fmt;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use colour::{accent_css, Rgb};

/// The name the pages show when none is set.
const DEFAULT_SITE_NAME: &str = "authd";

/// The longest site name, in characters.
pub const MAX_SITE_NAME_CHARS: usize = 64;

/// The largest logo, in bytes.
pub const MAX_LOGO_BYTES: usize = 512 * 1024;

/// The largest custom stylesheet, in bytes.
pub const MAX_CUSTOM_CSS_BYTES: usize = 256 * 1024;

/// The pages' look: [`Branding::default`] is authd's own (the name "authd", no logo, its blue,
/// no extra CSS). Cheap to clone.
#[derive(Clone, Default)]
pub struct Branding {
    site_name: Option<String>,
    logo: Option<Asset>,
    accent: Option<Rgb>,
    custom_css: Option<String>,
    /// The accent's stylesheet and the custom CSS in one file, when either is set.
    site_css: Option<Asset>,
}

impl fmt::Debug for Branding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Branding")
            .field("site_name", &self.site_name())
            .field("logo", &self.logo_path())
            .field("accent", &self.accent.map(|c| c.to_string()))
            .field("custom_css", &self.custom_css.as_ref().map(String::len))
            .finish()
    }
}

/// A file the pages serve from memory: its bytes, type and the path that names its hash.
#[derive(Clone)]
pub(crate) struct Asset {
    pub(crate) bytes: Arc<[u8]>,
    pub(crate) content_type: &'static str,
    /// `/assets/<name>-<16 hex digits of SHA-256>.<ext>`, under the pages' base.
    pub(crate) path: String,
}

impl Asset {
    fn new(name: &str, ext: &str, content_type: &'static str, bytes: Vec<u8>) -> Self {
        let hash = Sha256::digest(&bytes);
        let hex: String = hash[..8].iter().map(|b| format!("{b:02x}")).collect();
        Asset {
            bytes: bytes.into(),
            content_type,
            path: format!("/assets/{name}-{hex}.{ext}"),
        }
    }

    /// Whether this is an SVG picture (served with a policy that keeps its scripts from
    /// running).
    pub(crate) fn is_svg(&self) -> bool {
        self.content_type.starts_with("image/svg")
    }
}

/// A setting [`Branding`] refuses, with what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidBranding(String);

impl fmt::Display for InvalidBranding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InvalidBranding {}

impl Branding {
    /// The pages named `site_name` (in every title and the header) in authd's own look.
    ///
    /// Errors: an empty name (after trimming), one longer than 64 characters, or one holding a
    /// control character.
    pub fn new(site_name: &str) -> Result<Self, InvalidBranding> {
        let name = site_name.trim();
        if name.is_empty() || name.chars().count() > MAX_SITE_NAME_CHARS {
            return Err(InvalidBranding(format!(
                "the site name must be 1 to {MAX_SITE_NAME_CHARS} characters"
            )));
        }
        if name.chars().any(char::is_control) {
            return Err(InvalidBranding(
                "the site name holds a control character".into(),
            ));
        }
        Ok(Branding {
            site_name: Some(name.to_owned()),
            ..Branding::default()
        })
    }

    /// With a logo (shown in the header, and the favicon): a PNG (by its signature) or an SVG
    /// (UTF-8 text holding `<svg`), at most 512 KiB.
    ///
    /// Errors: anything else, or a larger file.
    pub fn with_logo(mut self, bytes: Vec<u8>) -> Result<Self, InvalidBranding> {
        if bytes.len() > MAX_LOGO_BYTES {
            return Err(InvalidBranding(format!(
                "the logo is {} bytes, more than {MAX_LOGO_BYTES}",
                bytes.len()
            )));
        }
        let asset = if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Asset::new("logo", "png", "image/png", bytes)
        } else if std::str::from_utf8(&bytes).is_ok_and(|text| text.contains("<svg")) {
            Asset::new("logo", "svg", "image/svg+xml", bytes)
        } else {
            return Err(InvalidBranding(
                "the logo is neither a PNG nor an SVG picture".into(),
            ));
        };
        self.logo = Some(asset);
        Ok(self)
    }

    /// With buttons (and links, where they stay readable) in `colour`, `#rgb` or `#rrggbb`.
    /// The buttons' text is white or black, whichever contrasts more (at least 4.5:1 either
    /// way); a link keeps the scheme's own colour where the accent would be under 4.5:1.
    ///
    /// Errors: anything but those two forms.
    pub fn with_accent_color(mut self, colour: &str) -> Result<Self, InvalidBranding> {
        let accent = Rgb::parse(colour.trim()).ok_or_else(|| {
            InvalidBranding(format!(
                "{colour:?} is not a colour as #rgb or #rrggbb (hex digits)"
            ))
        })?;
        self.accent = Some(accent);
        self.site_css = self.make_site_css();
        Ok(self)
    }

    /// With `css` after authd's own stylesheet (and the accent's), served as a file of its
    /// own: the pages' policy allows no inline style.
    ///
    /// Errors: more than 256 KiB.
    pub fn with_custom_css(mut self, css: String) -> Result<Self, InvalidBranding> {
        if css.len() > MAX_CUSTOM_CSS_BYTES {
            return Err(InvalidBranding(format!(
                "the custom CSS is {} bytes, more than {MAX_CUSTOM_CSS_BYTES}",
                css.len()
            )));
        }
        self.custom_css = Some(css);
        self.site_css = self.make_site_css();
        Ok(self)
    }

    /// The name the pages show ("authd" unless set).
    pub fn site_name(&self) -> &str {
        self.site_name.as_deref().unwrap_or(DEFAULT_SITE_NAME)
    }

    /// The logo's path under the pages' base (`/assets/logo-<hash>.svg`), when there is a
    /// logo: prefix the public URL for an absolute link (a mail's). The hash changes with the
    /// file, so it may be cached for a year.
    pub fn logo_path(&self) -> Option<String> {
        self.logo.as_ref().map(|logo| logo.path.clone())
    }

    pub(crate) fn logo(&self) -> Option<&Asset> {
        self.logo.as_ref()
    }

    pub(crate) fn site_css(&self) -> Option<&Asset> {
        self.site_css.as_ref()
    }

    fn make_site_css(&self) -> Option<Asset> {
        if self.accent.is_none() && self.custom_css.is_none() {
            return None;
        }
        let mut css = String::from("/* This site's look: after authd.css. */\n");
        if let Some(accent) = self.accent {
            css.push_str(&accent_css(accent));
        }
        if let Some(custom) = &self.custom_css {
            css.push_str(custom);
            css.push('\n');
        }
        Some(Asset::new(
            "site",
            "css",
            "text/css; charset=utf-8",
            css.into_bytes(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_authd_without_logo_or_extra_css() {
        let branding = Branding::default();
        assert_eq!(branding.site_name(), "authd");
        assert_eq!(branding.logo_path(), None);
        assert!(branding.site_css().is_none());
    }

    #[test]
    fn site_names_are_trimmed_and_bounded() {
        assert_eq!(Branding::new(" Acme ").unwrap().site_name(), "Acme");
        assert!(Branding::new("  ").is_err());
        assert!(Branding::new(&"x".repeat(65)).is_err());
        assert!(Branding::new("a\nb").is_err());
    }

    #[test]
    fn a_logo_is_a_png_or_an_svg_named_by_its_hash() {
        let svg = b"<?xml version=\"1.0\"?><svg xmlns=\"http://www.w3.org/2000/svg\"/>".to_vec();
        let branding = Branding::default().with_logo(svg).unwrap();
        let path = branding.logo_path().unwrap();
        assert!(
            path.starts_with("/assets/logo-") && path.ends_with(".svg"),
            "{path}"
        );
        assert_eq!(path.len(), "/assets/logo-".len() + 16 + ".svg".len());
        let png = [b"\x89PNG\r\n\x1a\n".as_slice(), &[0; 16]].concat();
        let branding = Branding::default().with_logo(png).unwrap();
        assert!(branding.logo_path().unwrap().ends_with(".png"));
        for bad in [
            b"GIF89a".to_vec(),
            b"<html></html>".to_vec(),
            vec![0xff; 10],
        ] {
            assert!(Branding::default().with_logo(bad).is_err());
        }
        let huge = [b"<svg>".as_slice(), &vec![b' '; MAX_LOGO_BYTES]].concat();
        assert!(Branding::default().with_logo(huge).is_err());
    }

    #[test]
    fn accent_and_custom_css_make_one_stylesheet_custom_last() {
        assert!(Branding::default().with_accent_color("blue").is_err());
        assert!(Branding::default().with_accent_color("#12345").is_err());
        let branding = Branding::default()
            .with_accent_color("#7b2cbf")
            .unwrap()
            .with_custom_css(".brand { letter-spacing: .1em; }".into())
            .unwrap();
        let css = branding.site_css().unwrap();
        let text = std::str::from_utf8(&css.bytes).unwrap();
        assert!(
            text.contains("--accent: #7b2cbf; --on-accent: #ffffff"),
            "{text}"
        );
        assert!(text
            .trim_end()
            .ends_with(".brand { letter-spacing: .1em; }"));
        assert!(css.path.starts_with("/assets/site-") && css.path.ends_with(".css"));
        let big = "a".repeat(MAX_CUSTOM_CSS_BYTES + 1);
        assert!(Branding::default().with_custom_css(big).is_err());
    }
}
