//! The bounds-checked reader the decoder reads a table with, and the errors
//! it reports: every read names the field it is for, and a failed one says
//! at which byte offset and why.

use core::fmt;

use crate::spec::Action;
use crate::table::Str;

/// Why a byte string is not a valid table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// Byte offset of the field that failed.
    pub offset: usize,
    /// The field, e.g. `rules[3].policy`.
    pub field: String,
    /// What was wrong with it.
    pub problem: String,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid table at byte {} ({}): {}",
            self.offset, self.field, self.problem
        )
    }
}

impl std::error::Error for DecodeError {}

/// What decoding steps return.
pub(super) type R<T> = Result<T, DecodeError>;

/// The error for `field` at byte `offset`.
pub(super) fn err<T>(offset: usize, field: impl fmt::Display, problem: impl fmt::Display) -> R<T> {
    Err(error(offset, &field, &problem))
}

/// The one, out-of-line body of [`err`] (the generic wrapper is inlined at
/// each of its many call sites; this keeps the filter's `.wasm` small).
#[cold]
#[inline(never)]
fn error(offset: usize, field: &dyn fmt::Display, problem: &dyn fmt::Display) -> DecodeError {
    DecodeError {
        offset,
        field: field.to_string(),
        problem: problem.to_string(),
    }
}

/// Names a field in error messages: `section`, `section[index]` or
/// `section[index].name`. Copy-able and formatted only when an error is
/// reported, so decoding a valid table formats nothing.
#[derive(Clone, Copy)]
pub(super) struct Field<'a> {
    section: &'a str,
    index: Option<usize>,
    name: &'a str,
}

impl<'a> Field<'a> {
    /// Field `name` of record `index` of `section` (`name` may be empty).
    pub(super) fn at(section: &'a str, index: usize, name: &'a str) -> Self {
        Self {
            section,
            index: Some(index),
            name,
        }
    }
}

impl<'a> From<&'a str> for Field<'a> {
    fn from(section: &'a str) -> Self {
        Self {
            section,
            index: None,
            name: "",
        }
    }
}

impl fmt::Display for Field<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.section)?;
        if let Some(i) = self.index {
            write!(f, "[{i}]")?;
        }
        if !self.name.is_empty() {
            write!(f, ".{}", self.name)?;
        }
        Ok(())
    }
}

/// Reads `bytes` from `pos` on; no read goes past the end.
///
/// On wasm the reads the decoder calls at dozens of places are kept out of
/// line: inlined, each with its error path, they would make the filter's
/// `.wasm` some 3 KB larger. Natively they are left to the inliner, which
/// makes decoding faster.
pub(super) struct Reader<'a> {
    bytes: &'a [u8],
    /// The offset of the next byte to read.
    pub(super) pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader of `bytes` starting at offset `pos`.
    pub(super) fn at(bytes: &'a [u8], pos: usize) -> Self {
        Self { bytes, pos }
    }

    /// The number of bytes after `pos`.
    pub(super) fn left(&self) -> usize {
        self.bytes.len().saturating_sub(self.pos)
    }

    /// The bytes this reader reads, up to offset `end` (all of them if
    /// `end` is past their end).
    pub(super) fn bytes_to(&self, end: usize) -> &'a [u8] {
        self.bytes.get(..end).unwrap_or(self.bytes)
    }

    /// The next `n` bytes.
    #[cfg_attr(target_family = "wasm", inline(never))]
    pub(super) fn take<'f>(&mut self, n: usize, field: impl Into<Field<'f>> + Copy) -> R<&'a [u8]> {
        let field: Field<'f> = field.into();
        let end = self.pos.checked_add(n);
        match end.and_then(|e| self.bytes.get(self.pos..e)) {
            Some(s) => {
                self.pos += n;
                Ok(s)
            }
            None => err(
                self.pos,
                field,
                format!("needs {n} bytes, {} left", self.left()),
            ),
        }
    }

    /// The next `N` bytes, as an array.
    pub(super) fn array<'f, const N: usize>(
        &mut self,
        field: impl Into<Field<'f>> + Copy,
    ) -> R<[u8; N]> {
        Ok(self.take(N, field)?.try_into().unwrap_or([0; N]))
    }

    #[cfg_attr(target_family = "wasm", inline(never))]
    pub(super) fn u8<'f>(&mut self, field: impl Into<Field<'f>> + Copy) -> R<u8> {
        Ok(self.take(1, field)?.first().copied().unwrap_or(0))
    }

    #[cfg_attr(target_family = "wasm", inline(never))]
    pub(super) fn u16<'f>(&mut self, field: impl Into<Field<'f>> + Copy) -> R<u16> {
        self.array(field).map(u16::from_le_bytes)
    }

    #[cfg_attr(target_family = "wasm", inline(never))]
    pub(super) fn u32<'f>(&mut self, field: impl Into<Field<'f>> + Copy) -> R<u32> {
        self.array(field).map(u32::from_le_bytes)
    }

    /// A varint (see the module docs): unsigned LEB128, at most `u32::MAX`,
    /// in the fewest bytes.
    #[cfg_attr(target_family = "wasm", inline(never))]
    pub(super) fn v<'f>(&mut self, field: impl Into<Field<'f>> + Copy) -> R<u32> {
        let field: Field<'f> = field.into();
        let at = self.pos;
        let mut value: u64 = 0;
        for k in 0..5u32 {
            // Read in place (the decoder reads hundreds of thousands of
            // varints from a large table); `take` only words the error.
            let Some(&b) = self.bytes.get(self.pos) else {
                return self.take(1, field).map(|_| 0);
            };
            self.pos += 1;
            value |= u64::from(b & 0x7F) << (7 * k);
            if b & 0x80 == 0 {
                if k > 0 && b == 0 {
                    return err(at, field, "varint not in its fewest bytes");
                }
                return u32::try_from(value)
                    .or_else(|_| err(at, field, "varint larger than 2^32 - 1"));
            }
        }
        err(at, field, "varint longer than 5 bytes")
    }

    /// A varint that indexes one of `n` records.
    #[cfg_attr(target_family = "wasm", inline(never))]
    pub(super) fn index<'f>(&mut self, field: impl Into<Field<'f>> + Copy, n: usize) -> R<u32> {
        let field: Field<'f> = field.into();
        let at = self.pos;
        let i = self.v(field)?;
        if i as usize >= n {
            return err(at, field, format!("index {i} out of range ({n} records)"));
        }
        Ok(i)
    }

    /// A record count, checked against the bytes left (each record takes
    /// at least `record` bytes) so that no allocation can exceed the
    /// input's size.
    #[cfg_attr(target_family = "wasm", inline(never))]
    pub(super) fn count<'f>(
        &mut self,
        record: usize,
        field: impl Into<Field<'f>> + Copy,
    ) -> R<usize> {
        let field: Field<'f> = field.into();
        let at = self.pos;
        let n = self.v(field)? as usize;
        let left = self.left();
        if n.checked_mul(record).is_none_or(|need| need > left) {
            return err(
                at,
                field,
                format!(
                    "count {n} of records of at least {record} bytes exceeds the {left} bytes left"
                ),
            );
        }
        Ok(n)
    }
}

/// The string pool, which Str fields point into: `start` is its offset in
/// the table, `len` its length. A Str read from a record keeps its offset
/// in the pool, which is where it points once the loaded table's string
/// buffer begins with the pool (see `keep_strings` in `decode.rs`).
#[derive(Clone, Copy)]
pub(super) struct Pool<'a> {
    pub(super) table: &'a [u8],
    pub(super) start: usize,
    pub(super) len: usize,
}

impl<'a> Pool<'a> {
    /// Reads a Str and checks that it lies within the pool.
    #[cfg_attr(target_family = "wasm", inline(never))]
    pub(super) fn str<'f>(&self, r: &mut Reader<'_>, field: impl Into<Field<'f>> + Copy) -> R<Str> {
        let field: Field<'f> = field.into();
        let at = r.pos;
        let off = r.v(field)?;
        let len = r.v(field)?;
        let end = u64::from(off) + u64::from(len);
        if end > self.len as u64 {
            return err(
                at,
                field,
                format!("string {off}+{len} outside the {}-byte pool", self.len),
            );
        }
        Ok(Str { off, len })
    }

    /// The bytes of `s` (a Str of the pool).
    pub(super) fn bytes(&self, s: Str) -> &'a [u8] {
        let pool = self
            .table
            .get(self.start..self.start.saturating_add(self.len))
            .unwrap_or(&[]);
        s.of(pool)
    }
}

/// An action byte: 0 allow, 1 deny.
pub(super) fn action_of<'f>(b: u8, at: usize, field: impl Into<Field<'f>> + Copy) -> R<Action> {
    let field: Field<'f> = field.into();
    match b {
        0 => Ok(Action::Allow),
        1 => Ok(Action::Deny),
        _ => err(at, field, format!("unknown action {b}")),
    }
}
