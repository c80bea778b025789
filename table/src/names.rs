//! What a valid policy name, rule id, header name and principal text is: the
//! rules the compiler checks a policy against and the decoder checks a
//! table against. (What a valid host name is lives in [`crate::host`].)

/// Whether `s` is a valid policy name or rule id: 1–128 bytes of ASCII
/// letters, digits, `_`, `-`, `.`, `/` (ids) or without `/` (names).
pub fn is_valid_name(s: &[u8], allow_slash: bool) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.iter().all(|&b| {
            b.is_ascii_alphanumeric()
                || b == b'_'
                || b == b'-'
                || b == b'.'
                || (allow_slash && b == b'/')
        })
}

/// Whether `s` is a lower-case HTTP header name (an RFC 9110 token).
pub fn is_header_name(s: &[u8]) -> bool {
    !s.is_empty()
        && s.iter().all(|&b| {
            b.is_ascii_lowercase()
                || b.is_ascii_digit()
                || b"!#$%&'*+-.^_`|~".contains(&b)
                || (b == b':' && s.first() == Some(&b':'))
        })
}

/// Whether `s` can be a principal or namespace/service-account string in a
/// table: visible ASCII, no `spiffe://` prefix.
pub fn is_principal_text(s: &[u8]) -> bool {
    !s.is_empty()
        && s.len() <= 512
        && s.iter().all(|&b| b.is_ascii_graphic())
        && !s.starts_with(b"spiffe://")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_ids_headers_and_principals() {
        assert!(is_valid_name(b"httpbin", false));
        assert!(!is_valid_name(b"httpbin/1", false));
        assert!(is_valid_name(b"httpbin/1", true));
        assert!(!is_valid_name(b"", true));
        assert!(!is_valid_name(&[b'a'; 129], true));
        assert!(is_header_name(b"x-tenant"));
        assert!(is_header_name(b":authority"));
        assert!(!is_header_name(b"x:y"));
        assert!(!is_header_name(b"X-Tenant"));
        assert!(is_principal_text(b"cluster.local/ns/default/sa/admin"));
        assert!(!is_principal_text(b"spiffe://cluster.local/ns/a/sa/b"));
        assert!(!is_principal_text(b"has space"));
    }
}
