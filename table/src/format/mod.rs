//! The binary table format, version 4.0.
//!
//! A table is one byte string: a 16-byte header, a body of eleven sections
//! in a fixed order, and a 4-byte trailer. Fixed-size integers are
//! little-endian; there is no padding anywhere.
//!
//! ```text
//! offset  size  field
//! 0       8     magic: the ASCII bytes "EGRTABLE"
//! 8       2     major version (3). A decoder refuses any other major version.
//! 10      2     minor version (0). A decoder refuses a minor version newer than its own.
//! 12      4     body length B: the number of bytes between header and trailer
//! 16      B     body: the sections below, in this order, with nothing between them
//! 16+B    4     CRC-32C (Castagnoli, see [`crate::crc`]) of bytes 0 .. 16+B
//! ```
//!
//! Counts, indexes, lengths and offsets are **varints** (`v`): unsigned
//! LEB128, seven bits per byte, least significant group first, the high bit
//! set on every byte but the last; at most five bytes, at most `u32::MAX`,
//! and in the fewest bytes (a last byte of zero after others is refused). A
//! **Str** is `v offset · v length` into the string pool. Each section is
//! `v count` followed by `count` records:
//!
//! ```text
//! section   record
//! STRINGS   (not records: v byte length, then the bytes of the pool)
//! POLICIES  name Str · mode u8 (0 enforce, 1 audit) · default u8 (0 allow,
//!           1 deny) · log u8 (0 none, 1 denied, 2 all) · flags u8 (bit 0:
//!           require SNI/Host agreement; others zero) · rules v
//! PATHS     kind u8 (bits 0–6: 0 exact, 1 prefix, 2 template, 3 regex,
//!           4 suffix; bit 7: negated) · text Str · dfa v (0: none; k: the
//!           DFA REGEXES[k − 1])
//! REGEXES   v length L, then L bytes: one DFA (below)
//! SOURCES   kind u8 (bits 0–6: 0 principal, 1 namespace, 2 service account,
//!           3 any principal; bit 7: negated) · a Str · b Str (service
//!           account name; empty otherwise; both empty for 3)
//! HEADERS   kind u8 (bits 0–6: 0 present, 1 absent, 2 equals, 3 prefix,
//!           4 suffix; bit 7: negated, on 2–4 only) · name Str · value Str
//! BODIES    action u8 (0 allow, 1 deny, 2 otherwise-deny) · methods u16 ·
//!           v n, then n path indexes v · v n, then n source indexes v ·
//!           v n, then n header indexes v
//! RULES     body v (index into BODIES) · line v (zigzag: 2d for a line d
//!           after the previous rule's, 2|d|−1 for one |d| before; the first
//!           rule's previous line is 0)
//! DESTS     policy v · protocol u8 (0 http, 1 tls, 2 tcp) · v n, then n
//!           port ranges (lo u16 · hi u16, inclusive) · rules v
//! HOSTS     kind u8 (0 exact, 1 one label `*.`, 2 any depth `**.`) · v
//!           length, then the name's bytes · v n, then n destination
//!           indexes v
//! CIDRS     family u8 (4 or 6) · prefix u8 · address (4 or 16 bytes) · v n,
//!           then n destination indexes v
//! ```
//!
//! **DFAs.** A REGEXES record's L bytes are one deterministic automaton
//! over bytes, read from the start of the path to its end:
//!
//! ```text
//! size  field
//! 1     C − 1, where C (1 to 256) is the number of byte classes
//! 256   the class of each byte value 0, 1, …, 255, each less than C
//! v     S, the number of states (at least 1)
//! v     the start state (less than S)
//! S ×   one record per state, state 0 first: accept u8 (1: a path that
//!       ends in this state matches; 0: it does not) · C × next state v
//!       (less than S; the state the DFA goes to on a byte of each class)
//! ```
//!
//! State 0 is the **dead state**: it does not accept and every next state
//! of it is 0 (the decoder checks this). A path matches when feeding its
//! bytes in match form from the start state ends in an accepting state;
//! a run that reaches state 0 can stop there. The L bytes hold exactly
//! this. The compiler builds a minimal DFA with regex-automata (anchored,
//! `MatchKind::All`, Unicode off) and numbers its states in breadth-first
//! order from the start state; `accept` is whether regex-automata's
//! end-of-input transition from the state reaches a match state.
//!
//! **Rules and their ids.** The policies' `rules` counts tile RULES in
//! order (policy 0 owns the first rules, and so on), and so do the
//! destinations' (each destination's rules lie within its policy's). A rule's
//! id is not stored: it is `<policy name>/<n>`, *n* counting from 1 within
//! its policy, which is how the compiler numbers rules (in file order). A
//! rule's conditions are its **body**; identical bodies are stored once, so a
//! table of 50,000 rules written from a few hundred path patterns stores each
//! pattern, and each distinct rule body, once. Likewise paths, sources and
//! headers are stored once each and referred to by index.
//!
//! **Paths.** Path texts (exact, prefix, suffix) are patterns as the author
//! wrote them (passing [`crate::path::pattern_problem`]); they, template
//! literals and regexes are compared against a request path in **match
//! form** ([`crate::path`]: escapes decoded but for `%2F`, `%5C`, `%25`).
//! A template takes no DFA when it is *simple* (see `template.rs`: every
//! `{*}` before `/`, `{**}` or the end); it is then matched piece by piece.
//! Any other template, and every regex, takes a DFA. The decoder computes the
//! match forms and template pieces once at load time.
//!
//! **Versions.** 1.0 compared paths as raw text, 2.0 in match form (same
//! layout), 2.1 added negations, suffix paths, any-principal sources, prefix
//! and suffix header conditions, open method sets and otherwise-deny rules.
//! 3.0 kept 2.1's meaning in a smaller layout: varints, implicit rule ids,
//! shared rule bodies and conditions, ports and destination lists inline,
//! host names inline, templates without DFAs. **4.0** (this one) stores
//! DFAs in the form above instead of regex-automata's serialization, so
//! the filter runs them with a loop of its own and carries no
//! regex-automata code (a smaller `.wasm`, and a long path through a DFA
//! takes less time); everything else is 3.0's. A 4.0 reader refuses 1.x,
//! 2.x and 3.x tables (recompile the policy: `egressc compile` writes
//! 4.0), and older readers refuse 4.0 tables (deploy the filter of the
//! same release). `table/tests/golden/` holds tables of each
//! version and the test that pins which of them decode.
//!
//! Methods are a bit set: bit *i* is `spec::METHODS[i]` (GET, HEAD, POST, PUT,
//! DELETE, CONNECT, OPTIONS, TRACE, PATCH); `0xFFFF` is "any method"; and a
//! set with every bit from 9 to 15 and some standard bits clear is "any
//! method except" those (bit 15 is the request's bit for a method outside
//! the standard ones). Any other value is refused.
//!
//! A body's negated paths (bit 7) come after its plain ones, and so do its
//! negated sources. The plain paths are OR-ed, and so are the negated ones: a
//! rule's path condition holds when some plain path matches (or there is
//! none) and no negated one does; likewise for sources. An otherwise-deny
//! body has methods `0xFFFF` and no path, source or header; a body used by a
//! `tls` or `tcp` destination has methods `0xFFFF` and no path or header.
//!
//! Hosts are sorted by (kind, name) and unique; CIDRs are sorted and unique;
//! a host or CIDR lists each destination at most once and at least one;
//! every destination is the target of some host or CIDR.
//!
//! [`decode()`] checks everything above plus the meaning of every value (host
//! names normalised, header names lower case, L7 conditions only on `http`
//! destinations, each DFA's classes and states in range and its state 0 dead, …) before it returns a
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
pub(crate) use decode::dfa_from_bytes;
#[cfg(feature = "build")]
pub(crate) use encode::put_v;
pub use encode::{EncodeError, encode};
pub use reader::DecodeError;

/// The first eight bytes of every table.
pub const MAGIC: [u8; 8] = *b"EGRTABLE";
/// The major version this crate writes and reads.
pub const VERSION_MAJOR: u16 = 4;
/// The minor version this crate writes (and the newest it reads).
pub const VERSION_MINOR: u16 = 0;
/// The size of the header: magic, version, body length.
const HEADER: usize = 16;
/// The size of the trailer: the checksum.
const TRAILER: usize = 4;
/// Policy flag bit 0: require SNI/Host agreement.
const FLAG_SNI_HOST_MATCH: u8 = 1;
/// Bit 7 of a path, source or header kind: the condition is negated.
const NEGATED: u8 = 0x80;
/// The BODIES action byte of an otherwise-deny rule.
const ACTION_FALLBACK: u8 = 2;

/// The fewest bytes a record of each section takes (a count of `n` records
/// needs at least `n` times this many bytes).
mod record {
    pub(super) const POLICY: usize = 7;
    pub(super) const PATH: usize = 4;
    /// Length, classes, 256 byte classes, states, start, the dead state.
    pub(super) const REGEX: usize = 262;
    pub(super) const SOURCE: usize = 5;
    pub(super) const HEADER_CONDITION: usize = 5;
    pub(super) const BODY: usize = 6;
    pub(super) const RULE: usize = 2;
    pub(super) const DEST: usize = 8;
    pub(super) const HOST: usize = 3;
    pub(super) const CIDR: usize = 7;
    pub(super) const INDEX: usize = 1;
}
