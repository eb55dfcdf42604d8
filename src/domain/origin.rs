//! Browser origins a client may call authd from (CORS).

use url::Url;

use super::ParseError;

/// Parses a web origin, `scheme://host[:port]` with nothing after it, into its ASCII
/// serialisation (what browsers send in `Origin`).
pub fn parse_origin(raw: &str) -> Result<String, ParseError> {
    let refuse = || {
        ParseError::new(format!(
            "origin {raw:?} must be scheme://host[:port] with no path, e.g. https://app.example.com"
        ))
    };
    let url = Url::parse(raw).map_err(|_| refuse())?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(refuse());
    }
    let origin = url.origin().ascii_serialization();
    if origin != raw.trim_end_matches('/') {
        return Err(refuse());
    }
    Ok(origin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_scheme_host_and_port_only() {
        assert_eq!(
            parse_origin("https://app.example.com").unwrap(),
            "https://app.example.com"
        );
        assert_eq!(
            parse_origin("http://localhost:3000").unwrap(),
            "http://localhost:3000"
        );
        for bad in [
            "https://app.example.com/path",
            "app.example.com",
            "ftp://x.example",
            "https://app.example.com:443",
            "*",
        ] {
            assert!(parse_origin(bad).is_err(), "{bad}");
        }
    }
}
