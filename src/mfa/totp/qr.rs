//! The enrolment QR code as SVG markup to inline in the page: shapes with presentation
//! attributes only (no `style`, no script), so the page's strict CSP holds.

use qrcode::QrCode;
use qrcode::render::svg;

/// The QR code of `text` as an `<svg>` element; `None` if it is too long for a QR code.
pub fn qr_svg(text: &str) -> Option<String> {
    let code = QrCode::new(text.as_bytes()).ok()?;
    let image = code
        .render::<svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    // The XML declaration is for a standalone file; inside HTML it is noise.
    let start = image.find("<svg")?;
    Some(image[start..].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_svg_carries_no_style_or_script() {
        let svg = qr_svg("otpauth://totp/authd:alice?secret=AAAA").unwrap();
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(!svg.contains("style") && !svg.contains("script"));
    }
}
