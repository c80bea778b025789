//! Reading the server name (SNI) out of a TLS ClientHello without
//! terminating TLS: the tunnel buffers the client's first bytes, asks
//! [`client_hello`] what they are, and replays them upstream unchanged.
//!
//! The parser follows RFC 8446 §4.1.2 (ClientHello, which keeps the TLS 1.2
//! layout), §5.1 (records; a handshake message may span several records)
//! and RFC 6066 §3 (the `server_name` extension). Every read is
//! bounds-checked through [`Cursor`]; no input makes it panic (a property
//! test feeds it arbitrary bytes and every truncation of valid hellos).
//!
//! It is strict where leniency would let a client show the proxy one name
//! and the server another: a second `server_name` extension, a second
//! `host_name` entry, a name type other than `host_name`, an empty name or
//! lengths that disagree with their container are all [`Hello::Malformed`],
//! and the tunnel refuses them.

/// The largest ClientHello accepted, in bytes of handshake message. Real
/// ones are under 2 KiB (about 1.8 KiB with a post-quantum key share);
/// anything past this is refused rather than buffered.
pub const MAX_HELLO: usize = 64 * 1024;

/// TLS record content type `handshake`.
const HANDSHAKE: u8 = 22;
/// Handshake message type `client_hello`.
const CLIENT_HELLO: u8 = 1;
/// Extension type `server_name`.
const SERVER_NAME: u16 = 0;
/// `NameType` `host_name`.
const HOST_NAME: u8 = 0;
/// The largest record fragment a peer may send (2^14 bytes of plaintext).
const MAX_FRAGMENT: usize = 1 << 14;

/// What the client's first bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hello {
    /// A TLS ClientHello may still be arriving: read more.
    NeedMore,
    /// Not TLS (the first byte is not a handshake record): plain TCP, an
    /// SSLv2-style hello, or another protocol.
    NotTls,
    /// A complete ClientHello without a `server_name` extension.
    NoSni,
    /// A complete ClientHello naming this server (the bytes as sent).
    Sni(Vec<u8>),
    /// Bytes that start like TLS but are not a well-formed ClientHello; the
    /// text says what is wrong.
    Malformed(&'static str),
}

/// A bounds-checked reader over a byte slice: every read returns `None`
/// past the end instead of panicking.
#[derive(Debug, Clone, Copy)]
struct Cursor<'a> {
    rest: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.rest.len() {
            return None;
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1)?.first().copied()
    }

    fn u16(&mut self) -> Option<u16> {
        let b = self.take(2)?;
        Some(u16::from_be_bytes([*b.first()?, *b.get(1)?]))
    }

    fn u24(&mut self) -> Option<usize> {
        let b = self.take(3)?;
        Some(
            usize::from(*b.first()?) << 16 | usize::from(*b.get(1)?) << 8 | usize::from(*b.get(2)?),
        )
    }

    /// A vector with a one-byte length prefix.
    fn vec8(&mut self) -> Option<&'a [u8]> {
        let n = self.u8()?;
        self.take(usize::from(n))
    }

    /// A vector with a two-byte length prefix.
    fn vec16(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }
}

/// Classifies the client's first bytes and, for a complete ClientHello,
/// returns its server name. `bytes` is everything read so far.
pub fn client_hello(bytes: &[u8]) -> Hello {
    match bytes.first() {
        None => return Hello::NeedMore,
        Some(&HANDSHAKE) => {}
        Some(_) => return Hello::NotTls,
    }
    match reassemble(bytes) {
        Ok(Some(message)) => parse_message(&message),
        Ok(None) => Hello::NeedMore,
        Err(why) => Hello::Malformed(why),
    }
}

/// Joins the fragments of the first handshake message from consecutive
/// handshake records. `Ok(None)`: more bytes are needed.
fn reassemble(bytes: &[u8]) -> Result<Option<Vec<u8>>, &'static str> {
    let mut records = Cursor::new(bytes);
    let mut message: Vec<u8> = Vec::new();
    loop {
        let Some(header) = records.take(5) else {
            return Ok(None);
        };
        let mut h = Cursor::new(header);
        let (Some(kind), Some(major), Some(_minor), Some(len)) = (h.u8(), h.u8(), h.u8(), h.u16())
        else {
            return Ok(None);
        };
        if kind != HANDSHAKE {
            return Err("a non-handshake record arrived before the ClientHello was complete");
        }
        if major != 3 {
            return Err("the record's protocol version is not TLS (3.x)");
        }
        let len = usize::from(len);
        if len == 0 {
            return Err("an empty handshake record (RFC 8446 §5.1 forbids them)");
        }
        if len > MAX_FRAGMENT {
            return Err("a record longer than 2^14 bytes");
        }
        let Some(fragment) = records.take(len) else {
            return Ok(None);
        };
        message.extend_from_slice(fragment);
        let mut m = Cursor::new(&message);
        let (Some(msg_type), Some(body_len)) = (m.u8(), m.u24()) else {
            continue;
        };
        if msg_type != CLIENT_HELLO {
            return Err("the first handshake message is not a ClientHello");
        }
        if body_len > MAX_HELLO {
            return Err("the ClientHello is larger than 64 KiB");
        }
        if m.rest.len() >= body_len {
            message.truncate(4 + body_len);
            return Ok(Some(message));
        }
    }
}

/// Parses one whole handshake message (type, length, ClientHello body).
fn parse_message(message: &[u8]) -> Hello {
    match parse_body(message) {
        Ok(Some(name)) => Hello::Sni(name.to_vec()),
        Ok(None) => Hello::NoSni,
        Err(why) => Hello::Malformed(why),
    }
}

fn parse_body(message: &[u8]) -> Result<Option<&[u8]>, &'static str> {
    const SHORT: &str = "the ClientHello ends inside a field";
    let mut m = Cursor::new(message);
    let _type = m.u8().ok_or(SHORT)?;
    let len = m.u24().ok_or(SHORT)?;
    let body = m.take(len).ok_or(SHORT)?;
    let mut b = Cursor::new(body);
    let version = b.u16().ok_or(SHORT)?;
    if version >> 8 != 3 {
        return Err("the ClientHello's version is not TLS (3.x)");
    }
    b.take(32).ok_or(SHORT)?; // random
    let session = b.vec8().ok_or(SHORT)?;
    if session.len() > 32 {
        return Err("the session id is longer than 32 bytes");
    }
    let suites = b.vec16().ok_or(SHORT)?;
    if suites.is_empty() || suites.len() % 2 != 0 {
        return Err("the cipher-suite list is empty or of odd length");
    }
    let compression = b.vec8().ok_or(SHORT)?;
    if compression.is_empty() {
        return Err("the compression-method list is empty");
    }
    if b.is_empty() {
        // TLS 1.0–1.2 allow a hello without extensions.
        return Ok(None);
    }
    let extensions = b.vec16().ok_or(SHORT)?;
    if !b.is_empty() {
        return Err("bytes follow the extensions inside the ClientHello");
    }
    let mut e = Cursor::new(extensions);
    let mut found: Option<&[u8]> = None;
    let mut seen_sni = false;
    while !e.is_empty() {
        let kind = e.u16().ok_or("an extension header is cut short")?;
        let data = e.vec16().ok_or("an extension is longer than the list")?;
        if kind != SERVER_NAME {
            continue;
        }
        if seen_sni {
            return Err("two server_name extensions");
        }
        seen_sni = true;
        found = server_name(data)?;
    }
    Ok(found)
}

/// The `host_name` in a `server_name` extension's data (RFC 6066 §3). An
/// empty extension (as a server sends it) carries no name.
fn server_name(data: &[u8]) -> Result<Option<&[u8]>, &'static str> {
    if data.is_empty() {
        return Ok(None);
    }
    let mut d = Cursor::new(data);
    let list = d
        .vec16()
        .ok_or("the server-name list is longer than its extension")?;
    if !d.is_empty() {
        return Err("bytes follow the server-name list");
    }
    let mut l = Cursor::new(list);
    let mut name: Option<&[u8]> = None;
    while !l.is_empty() {
        let kind = l.u8().ok_or("a server-name entry is cut short")?;
        let value = l.vec16().ok_or("a server name is longer than its list")?;
        if kind != HOST_NAME {
            return Err("a server-name entry that is not a host_name");
        }
        if value.is_empty() {
            return Err("an empty host_name");
        }
        if name.is_some() {
            return Err("two host_name entries");
        }
        name = Some(value);
    }
    if name.is_none() {
        return Err("an empty server-name list");
    }
    Ok(name)
}

/// A fatal TLS alert record, sent in the clear before any ServerHello (RFC
/// 8446 §6): how a refused tunnel tells a TLS client why it is closed.
pub fn alert(description: Alert) -> [u8; 7] {
    [21, 3, 3, 0, 2, 2, description as u8]
}

/// The alerts the tunnel sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alert {
    /// `access_denied` (49): the policy refused the connection.
    AccessDenied = 49,
    /// `decode_error` (50): the ClientHello could not be parsed.
    DecodeError = 50,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A ClientHello body with `extensions` (type, data), or none at all.
    pub(crate) fn hello_body(extensions: Option<&[(u16, Vec<u8>)]>) -> Vec<u8> {
        let mut b = vec![3, 3];
        b.extend_from_slice(&[7; 32]);
        b.push(32);
        b.extend_from_slice(&[9; 32]);
        b.extend_from_slice(&[0, 4, 0x13, 0x01, 0x13, 0x02]);
        b.extend_from_slice(&[1, 0]);
        if let Some(exts) = extensions {
            let mut e = Vec::new();
            for (kind, data) in exts {
                e.extend_from_slice(&kind.to_be_bytes());
                e.extend_from_slice(&(data.len() as u16).to_be_bytes());
                e.extend_from_slice(data);
            }
            b.extend_from_slice(&(e.len() as u16).to_be_bytes());
            b.extend_from_slice(&e);
        }
        b
    }

    /// `server_name` extension data with these (type, name) entries.
    pub(crate) fn sni_ext(entries: &[(u8, &[u8])]) -> Vec<u8> {
        let mut list = Vec::new();
        for (kind, name) in entries {
            list.push(*kind);
            list.extend_from_slice(&(name.len() as u16).to_be_bytes());
            list.extend_from_slice(name);
        }
        let mut d = (list.len() as u16).to_be_bytes().to_vec();
        d.extend_from_slice(&list);
        d
    }

    /// Wraps a body into a handshake message and records of at most
    /// `fragment` bytes each.
    pub(crate) fn records(body: &[u8], fragment: usize) -> Vec<u8> {
        let mut msg = vec![CLIENT_HELLO];
        msg.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        msg.extend_from_slice(body);
        let mut out = Vec::new();
        for chunk in msg.chunks(fragment) {
            out.extend_from_slice(&[HANDSHAKE, 3, 1]);
            out.extend_from_slice(&(chunk.len() as u16).to_be_bytes());
            out.extend_from_slice(chunk);
        }
        out
    }

    /// A complete hello naming `name`, in one record.
    pub(crate) fn hello(name: &[u8]) -> Vec<u8> {
        let exts = [
            (10, vec![0, 2, 0, 29]),
            (SERVER_NAME, sni_ext(&[(HOST_NAME, name)])),
            (43, vec![2, 3, 4]),
        ];
        records(&hello_body(Some(&exts)), 1 << 14)
    }

    #[test]
    fn finds_the_name() {
        assert_eq!(
            client_hello(&hello(b"api.example.com")),
            Hello::Sni(b"api.example.com".to_vec())
        );
    }

    #[test]
    fn a_hello_shaped_like_openssls() {
        // SNI first, then supported_groups, supported_versions and an X25519
        // key share, as OpenSSL 3 orders them (the end-to-end tests parse
        // curl's real hellos).
        let name = b"example.com";
        let body = hello_body(Some(&[
            (SERVER_NAME, sni_ext(&[(HOST_NAME, name)])),
            (11, vec![3, 0, 1, 2]),
            (10, vec![0, 4, 0, 29, 0, 23]),
            (43, vec![4, 3, 4, 3, 3]),
            (51, [&[0u8, 38, 0, 29, 0, 32][..], &[5; 32]].concat()),
        ]));
        assert_eq!(
            client_hello(&records(&body, 1 << 14)),
            Hello::Sni(name.to_vec())
        );
    }

    #[test]
    fn spans_records() {
        let body = hello_body(Some(&[(SERVER_NAME, sni_ext(&[(HOST_NAME, b"a.b")]))]));
        for fragment in [1, 2, 3, 5, 17, 100] {
            assert_eq!(
                client_hello(&records(&body, fragment)),
                Hello::Sni(b"a.b".to_vec()),
                "fragments of {fragment}"
            );
        }
    }

    #[test]
    fn every_prefix_needs_more() {
        let full = hello(b"api.example.com");
        for n in 0..full.len() {
            assert_eq!(client_hello(&full[..n]), Hello::NeedMore, "prefix of {n}");
        }
        let split = records(
            &hello_body(Some(&[(SERVER_NAME, sni_ext(&[(HOST_NAME, b"x.y")]))])),
            7,
        );
        for n in 0..split.len() {
            assert_eq!(client_hello(&split[..n]), Hello::NeedMore, "prefix of {n}");
        }
    }

    #[test]
    fn trailing_bytes_after_the_hello_are_not_its_business() {
        let mut b = hello(b"a.example");
        b.extend_from_slice(&[23, 3, 3, 0, 1, 0]);
        assert_eq!(client_hello(&b), Hello::Sni(b"a.example".to_vec()));
    }

    #[test]
    fn without_sni() {
        assert_eq!(
            client_hello(&records(&hello_body(None), 1 << 14)),
            Hello::NoSni
        );
        let other = [(10, vec![0, 2, 0, 29])];
        assert_eq!(
            client_hello(&records(&hello_body(Some(&other)), 1 << 14)),
            Hello::NoSni
        );
        let empty = [(SERVER_NAME, Vec::new())];
        assert_eq!(
            client_hello(&records(&hello_body(Some(&empty)), 1 << 14)),
            Hello::NoSni
        );
    }

    #[test]
    fn not_tls() {
        assert_eq!(client_hello(b"SSH-2.0-OpenSSH_9.2\r\n"), Hello::NotTls);
        assert_eq!(client_hello(b"GET / HTTP/1.1\r\n"), Hello::NotTls);
        assert_eq!(client_hello(&[0x80, 0x2e, 1, 3, 1]), Hello::NotTls);
        assert_eq!(client_hello(b""), Hello::NeedMore);
    }

    fn malformed(bytes: &[u8]) -> &'static str {
        match client_hello(bytes) {
            Hello::Malformed(why) => why,
            other => panic!("{other:?} for {bytes:?}"),
        }
    }

    #[test]
    fn ambiguous_names_are_refused() {
        let two_exts = [
            (SERVER_NAME, sni_ext(&[(HOST_NAME, b"good.example")])),
            (SERVER_NAME, sni_ext(&[(HOST_NAME, b"evil.example")])),
        ];
        assert_eq!(
            malformed(&records(&hello_body(Some(&two_exts)), 1 << 14)),
            "two server_name extensions"
        );
        let two_names = [(
            SERVER_NAME,
            sni_ext(&[(HOST_NAME, b"good.example"), (HOST_NAME, b"evil.example")]),
        )];
        assert_eq!(
            malformed(&records(&hello_body(Some(&two_names)), 1 << 14)),
            "two host_name entries"
        );
        let other_type = [(SERVER_NAME, sni_ext(&[(1, b"x")]))];
        assert_eq!(
            malformed(&records(&hello_body(Some(&other_type)), 1 << 14)),
            "a server-name entry that is not a host_name"
        );
        let empty_name = [(SERVER_NAME, sni_ext(&[(HOST_NAME, b"")]))];
        assert_eq!(
            malformed(&records(&hello_body(Some(&empty_name)), 1 << 14)),
            "an empty host_name"
        );
        let empty_list = [(SERVER_NAME, vec![0, 0])];
        assert_eq!(
            malformed(&records(&hello_body(Some(&empty_list)), 1 << 14)),
            "an empty server-name list"
        );
    }

    #[test]
    fn structural_errors() {
        // Not a ClientHello (a ServerHello, type 2).
        assert_eq!(
            malformed(&[22, 3, 3, 0, 4, 2, 0, 0, 0]),
            "the first handshake message is not a ClientHello"
        );
        assert_eq!(
            malformed(&[22, 3, 3, 0, 0]),
            "an empty handshake record (RFC 8446 §5.1 forbids them)"
        );
        assert_eq!(
            malformed(&[22, 2, 0, 0, 1, 1]),
            "the record's protocol version is not TLS (3.x)"
        );
        assert_eq!(
            malformed(&[22, 3, 3, 0x40, 1]),
            "a record longer than 2^14 bytes"
        );
        assert_eq!(
            malformed(&[22, 3, 3, 0, 4, 1, 0xff, 0xff, 0xff]),
            "the ClientHello is larger than 64 KiB"
        );
        // A change-cipher-spec record in the middle of the hello.
        let mut split = records(&hello_body(None), 10);
        split.truncate(15);
        split.extend_from_slice(&[20, 3, 3, 0, 1, 1]);
        assert_eq!(
            malformed(&split),
            "a non-handshake record arrived before the ClientHello was complete"
        );
        // Lengths inside the body that run past it.
        let mut body = hello_body(Some(&[(SERVER_NAME, sni_ext(&[(HOST_NAME, b"a.b")]))]));
        let n = body.len();
        body[n - 4] = 0xff; // the name's length
        assert_eq!(
            malformed(&records(&body, 1 << 14)),
            "a server name is longer than its list"
        );
        let mut body = hello_body(None);
        body.extend_from_slice(&[0, 9, 1]);
        assert_eq!(
            malformed(&records(&body, 1 << 14)),
            "the ClientHello ends inside a field"
        );
    }

    #[test]
    fn alert_bytes() {
        assert_eq!(alert(Alert::AccessDenied), [21, 3, 3, 0, 2, 2, 49]);
    }

    proptest! {
        /// No input panics, and the answer never depends on bytes past
        /// the hello once it is complete.
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = client_hello(&bytes);
            let mut tls = vec![22, 3, 1];
            tls.extend_from_slice(&bytes);
            let _ = client_hello(&tls);
        }

        /// Random mutations of a valid hello never panic.
        #[test]
        fn mutations_never_panic(
            name in "[a-z]{1,20}(\\.[a-z]{1,10}){0,3}",
            fragment in 1usize..300,
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
        ) {
            let body = hello_body(Some(&[(SERVER_NAME, sni_ext(&[(HOST_NAME, name.as_bytes())]))]));
            let mut bytes = records(&body, fragment);
            prop_assert_eq!(client_hello(&bytes), Hello::Sni(name.as_bytes().to_vec()));
            for (i, v) in flips {
                let at = i.index(bytes.len());
                bytes[at] = v;
            }
            let _ = client_hello(&bytes);
            for n in 0..bytes.len() {
                let _ = client_hello(&bytes[..n]);
            }
        }
    }
}
