//! The flags of the pages' look: the product's name, logo, accent colour and CSS
//! (`web::Branding`). The name and colour are checked as they are parsed; the files are read
//! and checked by `Cli::branding`, before anything is opened.

use std::path::PathBuf;

use clap::Args;

/// Under `--help`'s "Look" heading.
const LOOK: &str = "Look";

/// The pages' look, flattened into `Cli`.
#[derive(Debug, Args)]
pub struct LookArgs {
    /// The product's name: in every page's title and header, and the default of --totp-issuer.
    /// 1 to 64 characters.
    #[arg(long, env = "AUTHD_SITE_NAME", default_value = "authd", value_parser = parse_site_name,
          global = true, help_heading = LOOK)]
    pub site_name: String,

    /// A logo for the pages' header and icon: a PNG or SVG file of at most 512 KiB, read at
    /// start and served at a URL holding a hash of its content (an SVG under a policy that lets
    /// it run no script).
    #[arg(long, env = "AUTHD_LOGO", global = true, help_heading = LOOK)]
    pub logo: Option<PathBuf>,

    /// The colour of buttons (and of links, where it stays readable), as #rgb or #rrggbb; the
    /// buttons' text is white or black, whichever contrasts more. Default: authd's blue.
    #[arg(long, env = "AUTHD_ACCENT_COLOR", value_parser = parse_accent_color,
          global = true, help_heading = LOOK)]
    pub accent_color: Option<String>,

    /// A CSS file (at most 256 KiB) the pages load after authd's own stylesheet, read at start.
    /// The pages' policy still allows no inline style or script.
    #[arg(long, env = "AUTHD_CUSTOM_CSS", global = true, help_heading = LOOK)]
    pub custom_css: Option<PathBuf>,
}

fn parse_site_name(text: &str) -> Result<String, String> {
    web::Branding::new(text)
        .map(|branding| branding.site_name().to_owned())
        .map_err(|e| e.to_string())
}

fn parse_accent_color(text: &str) -> Result<String, String> {
    web::Branding::default()
        .with_accent_color(text)
        .map(|_| text.trim().to_owned())
        .map_err(|e| e.to_string())
}
