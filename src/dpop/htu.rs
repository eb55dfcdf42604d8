//! Comparing a proof's `htu` with the request's URI (RFC 9449 section 4.3 check 9): both without
//! query and fragment, normalised by RFC 3986 sections 6.2.2 and 6.2.3.

/// The normalised form of an absolute http(s) URI without its query and fragment; `None` for
/// anything else.
pub fn normalize(uri: &str) -> Option<String> {
    // The url crate lowercases scheme and host, drops a default port, removes dot segments and
    // turns an empty path into "/" (sections 6.2.2.1, 6.2.2.3, 6.2.3).
    let mut url = url::Url::parse(uri).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return None;
    }
    url.set_query(None);
    url.set_fragment(None);
    Some(normalize_percent_encoding(url.as_str()))
}

/// Section 6.2.2.1 and 6.2.2.2: upper-case hex in percent-encodings, and unreserved characters
/// decoded.
fn normalize_percent_encoding(uri: &str) -> String {
    let bytes = uri.as_bytes();
    let mut out = String::with_capacity(uri.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%' && i + 2 < bytes.len())
            .then(|| {
                let hex = uri.get(i + 1..i + 3)?;
                u8::from_str_radix(hex, 16).ok()
            })
            .flatten();
        match escaped {
            Some(byte) if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) => {
                out.push(char::from(byte));
                i += 3;
            }
            Some(byte) => {
                out.push_str(&format!("%{byte:02X}"));
                i += 3;
            }
            None => {
                let ch = uri[i..].chars().next().unwrap_or_default();
                out.push(ch);
                i += ch.len_utf8().max(1);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equivalent_uris_normalise_alike() {
        let expected = normalize("https://server.example.com/token").unwrap();
        for uri in [
            "HTTPS://Server.Example.COM:443/token",
            "https://server.example.com/a/../token?x=1#f",
            "https://server.example.com/%74oken",
        ] {
            assert_eq!(normalize(uri).unwrap(), expected, "{uri}");
        }
        assert_eq!(
            normalize("http://h/a%2fb").unwrap(),
            normalize("http://h/a%2Fb").unwrap()
        );
        assert_ne!(
            normalize("http://h:8080/token"),
            normalize("http://h/token")
        );
        assert_eq!(normalize("https://h").unwrap(), "https://h/");
        assert_eq!(normalize("urn:x:y"), None);
        assert_eq!(normalize("/token"), None);
    }
}
