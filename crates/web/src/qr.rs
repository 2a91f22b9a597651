//! The QR code of an authenticator's `otpauth://` URL, as an SVG to inline in a page (no
//! script, no image request: the strict CSP allows it).

use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};

/// An SVG picture of the QR code of `otpauth_url` (medium error correction, dark on light,
/// at least 200 pixels wide, with the quiet zone), for an authenticator app to scan. A URL
/// too long for any QR code (over about 2 KB) gives an empty string; an `otpauth://` URL of
/// authd is a little over 100 bytes.
pub fn totp_qr_svg(otpauth_url: &str) -> String {
    match QrCode::with_error_correction_level(otpauth_url.as_bytes(), EcLevel::M) {
        Ok(code) => code
            .render::<svg::Color<'_>>()
            .min_dimensions(200, 200)
            .dark_color(svg::Color("#000000"))
            .light_color(svg::Color("#ffffff"))
            .build(),
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_otpauth_url_renders_as_an_svg_without_script() {
        let svg = totp_qr_svg(
            "otpauth://totp/authd:bob%40x.io?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=authd",
        );
        assert!(
            svg.starts_with("<?xml") || svg.starts_with("<svg"),
            "{svg:.40}"
        );
        assert!(svg.contains("<svg") && svg.ends_with("</svg>"));
        assert!(!svg.contains("<script"));
        assert!(totp_qr_svg(&"x".repeat(5000)).is_empty());
    }
}
