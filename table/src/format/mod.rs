//! The binary table format, version 2.1.
//!
//! A table is one byte string: a 16-byte header, a body of twelve sections in
//! a fixed order, and a 4-byte trailer. All integers are little-endian; there
//! is no padding anywhere.
//!
//! ```text
//! offset  size  field
//! 0       8     magic: the ASCII bytes "EGRTABLE"
//! 8       2     major version (2). A decoder refuses any other major version.
//! 10      2     minor version (0 or 1, see "Versions"). A decoder refuses a minor version newer than its own.
//! 12      4     body length B: the number of bytes between header and trailer
//! 16      B     body: the sections below, in this order, with nothing between them
//! 16+B    4     CRC-32C (Castagnoli, see [`crate::crc`]) of bytes 0 .. 16+B
//! ```
//!
//! Two compound fields recur: a **Str** is `u32 offset, u32 length` into the
//! string pool (8 bytes), and a **Span** is `u32 start, u32 end` (8 bytes), a
//! half-open range of records of another section. Every section but the first
//! and the regex section is `u32 count` followed by `count` fixed-size records:
//!
//! ```text
//! section    record                                                        bytes
//! STRINGS    u32 byte length, then the bytes (the pool)                      —
//! POLICIES   name Str · mode u8 (0 enforce, 1 audit) · default u8             12
//!            (0 allow, 1 deny) · log u8 (0 none, 1 denied, 2 all) ·
//!            flags u8 (bit 0: require SNI/Host agreement; others zero)
//! RULES      policy u32 · action u8 (0 allow, 1 deny, 2 otherwise-deny) ·      44
//!            reserved u8 (0) · methods u16 · id Str · line u32 ·
//!            paths Span · sources Span · headers Span
//! PATHS      kind u8 (bits 0–6: 0 exact, 1 prefix, 2 template, 3 regex,         13
//!            4 suffix; bit 7: negated) · text Str · dfa u32 (index into
//!            REGEXES; 0xFFFFFFFF for exact, prefix and suffix)
//! REGEXES    u32 count, then per DFA: u32 length and the DFA's bytes            —
//!            (regex-automata 0.4 dense DFA, little-endian serialization)
//! SOURCES    kind u8 (bits 0–6: 0 principal, 1 namespace, 2 service         17
//!            account, 3 any principal; bit 7: negated) · a Str · b Str
//!            (service account name; empty otherwise; both empty for 3)
//! HEADERS    kind u8 (bits 0–6: 0 present, 1 absent, 2 equals, 3 prefix,       17
//!            4 suffix; bit 7: negated, on 2–4 only) · name Str · value Str
//! PORTS      lo u16 · hi u16 (inclusive)                                        4
//! DESTS      policy u32 · protocol u8 (0 http, 1 tls, 2 tcp) · ports Span ·     21
//!            rules Span
//! HOSTS      kind u8 (0 exact, 1 one label `*.`, 2 any depth `**.`) ·          17
//!            name Str · dests Span (into DEST_REFS)
//! CIDRS      family u8 (4 or 6) · prefix u8 · address [16] (IPv4 in the        26
//!            first 4 bytes, the rest zero) · dests Span (into DEST_REFS)
//! DEST_REFS  u32 index into DESTS                                               4
//! ```
//!
//! Path texts (exact and prefix) are patterns as the author wrote them
//! (passing [`crate::path::pattern_problem`]); they, template literals and
//! regexes are compared against a request path in **match form**
//! ([`crate::path`]: escapes decoded but for `%2F`, `%5C`, `%25`). The
//! decoder computes the match forms once at load time.
//!
//! Versions: **2.0** compares paths in match form; the byte layout is that
//! of **1.0**, which compared paths as raw text. Because the same bytes
//! would match different requests, a 2.x reader refuses 1.x tables
//! (recompile them), and a 1.x reader refuses 2.x tables. **2.1** (this
//! one) keeps the 2.0 layout and adds constructs a 2.0 reader cannot
//! understand, so a 2.0 reader refuses a 2.1 table (its minor version is
//! newer): negated conditions (`except path`, `except from`, `!=`, `not
//! prefix`, `not suffix`: bit 7 of a path, source or header kind), suffix
//! paths (path kind 4), any-principal sources (source kind 3), prefix and
//! suffix header conditions (header kinds 3 and 4), open method sets (`any
//! except …`) and otherwise-deny rules (action 2). The encoder writes 2.1
//! only for a table that uses one of them, 2.0 otherwise, so such tables
//! still load in 2.0 filters; a 2.1 reader refuses a table that says 2.0 but
//! holds a 2.1 construct. `table/tests/golden/` holds tables of each version
//! and the test that pins which of them decode.
//!
//! Methods are a bit set: bit *i* is `spec::METHODS[i]` (GET, HEAD, POST, PUT,
//! DELETE, CONNECT, OPTIONS, TRACE, PATCH); `0xFFFF` is "any method"; and
//! (2.1) a set with every bit from 9 to 15 and some standard bits clear is
//! "any method except" those (bit 15 is the request's bit for a method
//! outside the standard ones). Any other value is refused.
//!
//! Negated entries (bit 7) of a rule's paths or sources come after its
//! plain ones. The plain paths are OR-ed, and so are the negated ones: a
//! rule's path condition holds when some plain path matches (or there is
//! none) and no negated one does; likewise for sources. An otherwise-deny
//! rule has methods `0xFFFF` and no path, source or header.
//!
//! The layout is canonical: the rules of destination *i* directly follow those
//! of destination *i − 1* (so `rules` spans tile RULES from 0 to its end), and
//! likewise for ports in DESTS, for paths, sources and headers in RULES, and
//! for dest refs in HOSTS and then CIDRS. Hosts are sorted by (kind, name) and
//! unique; CIDRs are sorted and unique.
//!
//! [`decode()`] checks everything above plus the meaning of every value (host
//! names normalised, header names lower case, L7 conditions only on `http`
//! destinations, each DFA deserializable and anchored, …) before it returns a
//! [`Table`](crate::Table). It never panics, whatever the input: every error
//! names the byte offset and the field it failed on.
//!
//! The code: [`encode()`] in `encode.rs`; [`decode()`] in `decode.rs`, one
//! function per section, reading through the bounds-checked reader in
//! `reader.rs`, which names every field; the indexes a table derives at load
//! time are built by `Table::assemble` (`crate::assemble`), not here.

mod decode;
mod encode;
mod reader;

pub use crate::host::is_normalized_host;
pub use crate::names::{is_header_name, is_principal_text, is_valid_name};
pub use decode::decode;
pub use encode::{EncodeError, encode};
pub use reader::DecodeError;

/// The first eight bytes of every table.
pub const MAGIC: [u8; 8] = *b"EGRTABLE";
/// The major version this crate writes and reads.
pub const VERSION_MAJOR: u16 = 2;
/// The minor version this crate writes (and the newest it reads).
pub const VERSION_MINOR: u16 = 1;
/// The size of the header: magic, version, body length.
const HEADER: usize = 16;
/// The size of the trailer: the checksum.
const TRAILER: usize = 4;
/// The `dfa` of an exact or prefix path.
const NO_DFA: u32 = u32::MAX;
/// Policy flag bit 0: require SNI/Host agreement.
const FLAG_SNI_HOST_MATCH: u8 = 1;
/// Bit 7 of a path, source or header kind: the condition is negated (2.1).
const NEGATED: u8 = 0x80;
/// The RULES action byte of an otherwise-deny rule (2.1).
const ACTION_FALLBACK: u8 = 2;

/// The size in bytes of one record of each section, as in the table above
/// (REGEXES: the least a DFA takes, its length).
mod record {
    pub(super) const POLICY: usize = 12;
    pub(super) const RULE: usize = 44;
    pub(super) const PATH: usize = 13;
    pub(super) const REGEX: usize = 4;
    pub(super) const SOURCE: usize = 17;
    pub(super) const HEADER_CONDITION: usize = 17;
    pub(super) const PORT_RANGE: usize = 4;
    pub(super) const DEST: usize = 21;
    pub(super) const HOST: usize = 17;
    pub(super) const CIDR: usize = 26;
    pub(super) const DEST_REF: usize = 4;
}
