//! Colours as WCAG 2 measures them: a `#rgb`/`#rrggbb` parser, relative luminance, contrast
//! ratio, and the stylesheet an accent colour makes (its text colour picked by contrast, its
//! links only where they stay readable).

use std::fmt;

/// An sRGB colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rgb(pub(crate) [u8; 3]);

impl fmt::Display for Rgb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [r, g, b] = self.0;
        write!(f, "#{r:02x}{g:02x}{b:02x}")
    }
}

impl Rgb {
    pub(crate) const WHITE: Rgb = Rgb([0xff, 0xff, 0xff]);
    pub(crate) const BLACK: Rgb = Rgb([0, 0, 0]);

    /// `#rgb` or `#rrggbb` (hex digits of either case); anything else is `None`.
    pub(crate) fn parse(text: &str) -> Option<Rgb> {
        let hex = text.strip_prefix('#')?;
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let digit = |i: usize| u8::from_str_radix(&hex[i..=i], 16).ok();
        let pair = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
        match hex.len() {
            3 => Some(Rgb([digit(0)? * 17, digit(1)? * 17, digit(2)? * 17])),
            6 => Some(Rgb([pair(0)?, pair(2)?, pair(4)?])),
            _ => None,
        }
    }

    /// WCAG 2's relative luminance, 0 (black) to 1 (white).
    pub(crate) fn luminance(self) -> f64 {
        let linear = |c: u8| {
            let c = f64::from(c) / 255.0;
            if c <= 0.040_45 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        let [r, g, b] = self.0;
        0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b)
    }

    /// WCAG 2's contrast ratio of two colours, 1 to 21.
    pub(crate) fn contrast(self, other: Rgb) -> f64 {
        let (a, b) = (self.luminance(), other.luminance());
        (a.max(b) + 0.05) / (a.min(b) + 0.05)
    }

    /// White or black, whichever contrasts more with this colour: at least 4.58:1 for any
    /// colour (the two are equal at luminance 0.179), so text on it always meets AA.
    pub(crate) fn text_on(self) -> Rgb {
        if self.contrast(Rgb::WHITE) >= self.contrast(Rgb::BLACK) {
            Rgb::WHITE
        } else {
            Rgb::BLACK
        }
    }

    /// This colour `amount` (0 to 1) of the way to `to`.
    fn towards(self, to: Rgb, amount: f64) -> Rgb {
        let mix = |a: u8, b: u8| {
            let mixed = f64::from(a) + (f64::from(b) - f64::from(a)) * amount;
            mixed.round().clamp(0.0, 255.0) as u8
        };
        Rgb([
            mix(self.0[0], to.0[0]),
            mix(self.0[1], to.0[1]),
            mix(self.0[2], to.0[2]),
        ])
    }
}

/// The light scheme's surface (the page's card) and default link colour, as in `authd.css`.
const LIGHT_SURFACE: Rgb = Rgb([0xff, 0xff, 0xff]);
const LIGHT_LINK: Rgb = Rgb([0x0a, 0x58, 0xca]);
/// The same in the dark scheme.
const DARK_SURFACE: Rgb = Rgb([0x16, 0x1b, 0x22]);
const DARK_LINK: Rgb = Rgb([0x58, 0xa6, 0xff]);

/// The stylesheet of an accent colour: buttons in `accent` with white or black text (whichever
/// contrasts more; a hover shade further from the text), and links in `accent` in each scheme
/// where it reaches 4.5:1 on that scheme's surface (else the scheme's own link colour).
pub(crate) fn accent_css(accent: Rgb) -> String {
    let text = accent.text_on();
    let hover = accent.towards(
        if text == Rgb::WHITE {
            Rgb::BLACK
        } else {
            Rgb::WHITE
        },
        0.2,
    );
    let link = |surface: Rgb, fallback: Rgb| {
        if accent.contrast(surface) >= 4.5 {
            accent
        } else {
            fallback
        }
    };
    format!(
        ":root {{ --accent: {accent}; --on-accent: {text}; --accent-hover: {hover}; \
         --link: {}; }}\n\
         @media (prefers-color-scheme: dark) {{ :root {{ --accent: {accent}; \
         --on-accent: {text}; --accent-hover: {hover}; --link: {}; }} }}\n",
        link(LIGHT_SURFACE, LIGHT_LINK),
        link(DARK_SURFACE, DARK_LINK),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_colours_of_three_and_six_digits_parse_and_nothing_else_does() {
        assert_eq!(Rgb::parse("#0a58ca"), Some(Rgb([0x0a, 0x58, 0xca])));
        assert_eq!(Rgb::parse("#F0c"), Some(Rgb([0xff, 0x00, 0xcc])));
        for bad in [
            "0a58ca", "#0a58c", "#0a58cag", "#", "", "red", "#+1+2+3", "# 12",
        ] {
            assert_eq!(Rgb::parse(bad), None, "{bad:?}");
        }
        assert_eq!(Rgb([0x0a, 0x58, 0xca]).to_string(), "#0a58ca");
    }

    #[test]
    fn contrast_matches_wcag_examples() {
        assert!((Rgb::WHITE.contrast(Rgb::BLACK) - 21.0).abs() < 1e-9);
        let ratio = Rgb::parse("#767676").unwrap().contrast(Rgb::WHITE);
        assert!((ratio - 4.54).abs() < 0.01, "{ratio}");
    }

    #[test]
    fn text_on_every_accent_meets_aa_and_so_does_its_hover() {
        for r in 0..16u8 {
            for g in 0..16u8 {
                for b in 0..16u8 {
                    let accent = Rgb([r * 17, g * 17, b * 17]);
                    let text = accent.text_on();
                    assert!(accent.contrast(text) >= 4.5, "{accent}");
                    let css = accent_css(accent);
                    let hover = css
                        .split("--accent-hover: ")
                        .nth(1)
                        .and_then(|rest| Rgb::parse(&rest[..7]))
                        .unwrap();
                    assert!(hover.contrast(text) >= accent.contrast(text) - 1e-9);
                }
            }
        }
    }

    #[test]
    fn an_accent_too_light_for_links_keeps_the_default_link_colour() {
        let yellow = accent_css(Rgb::parse("#ffd33d").unwrap());
        assert!(yellow.contains("--on-accent: #000000"), "{yellow}");
        assert!(yellow.contains("--link: #0a58ca"), "{yellow}");
        assert!(yellow.contains("--link: #ffd33d"), "{yellow}");
        let navy = accent_css(Rgb::parse("#123").unwrap());
        assert!(navy.contains("--on-accent: #ffffff"), "{navy}");
        assert!(navy.contains("--link: #112233"), "{navy}");
        assert!(navy.contains("--link: #58a6ff"), "{navy}");
    }

    /// The `--name: #hex` declarations of `block`.
    fn variables(block: &str) -> Vec<(&str, Rgb)> {
        block
            .split(';')
            .filter_map(|declaration| {
                let (name, value) = declaration.rsplit_once(':')?;
                let name = name.trim().rsplit(['{', ' ', '\n']).next()?;
                let name = name.strip_prefix("--")?;
                Some((name, Rgb::parse(value.trim())?))
            })
            .collect()
    }

    #[test]
    fn the_palette_meets_aa_in_the_light_and_the_dark_scheme() {
        let css = include_str!("../pages/static/authd.css");
        let (light, dark) = css
            .split_once("@media (prefers-color-scheme: dark)")
            .unwrap();
        let dark = dark.split_once('}').unwrap().0;
        for (scheme, block) in [("light", light), ("dark", dark)] {
            let palette = variables(block);
            assert!(palette.len() >= 20, "{scheme}: {palette:?}");
            let colour = |name: &str| {
                palette
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, c)| *c)
                    .unwrap_or_else(|| panic!("{scheme}: no --{name}"))
            };
            // (foreground, background, the least ratio): text 4.5, a control's edge 3.
            let pairs = [
                ("text", "bg", 4.5),
                ("text", "surface", 4.5),
                ("muted", "surface", 4.5),
                ("link", "surface", 4.5),
                ("link", "bg", 4.5),
                ("on-accent", "accent", 4.5),
                ("on-accent", "accent-hover", 4.5),
                ("on-danger", "danger", 4.5),
                ("on-danger", "danger-hover", 4.5),
                ("link", "quiet-hover", 4.5),
                ("field-error", "surface", 4.5),
                ("error-text", "error-bg", 4.5),
                ("notice-text", "notice-bg", 4.5),
                ("badge-text", "badge-bg", 4.5),
                ("control", "surface", 3.0),
                ("focus", "surface", 3.0),
                ("focus", "bg", 3.0),
                ("field-error", "surface", 3.0),
            ];
            for (fore, back, least) in pairs {
                let ratio = colour(fore).contrast(colour(back));
                assert!(
                    ratio >= least,
                    "{scheme}: --{fore} on --{back} is {ratio:.2}:1, under {least}:1"
                );
            }
        }
    }
}
