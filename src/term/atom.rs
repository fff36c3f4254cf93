//! Atoms without a global atom table.
//!
//! The BEAM interns every atom it ever sees in a table that is never garbage
//! collected, so a peer that sends millions of distinct atoms exhausts it and
//! crashes the node. erlnode does not intern: an [`Atom`] is a value. Short
//! atoms (up to [`INLINE_ATOM_BYTES`] bytes, which covers almost every atom on
//! the wire) live inline with no allocation; longer ones share one
//! reference-counted block (`arcstr::ArcStr`, a single pointer).
//! Memory for an atom is released when the last term that holds it is dropped.

#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

use arcstr::ArcStr;
use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};

/// Longest atom that Erlang allows, in characters (`erl_ext_dist`: "atoms may
/// have at most 255 characters"). A UTF-8 atom is therefore at most 1020 bytes.
pub const MAX_ATOM_CHARS: usize = 255;

/// Atoms whose UTF-8 text fits in this many bytes are stored inline, without a
/// heap allocation; 14 keeps `Atom` at two machine words, and so `Pid` and
/// `Port` at four and `Term` at five. It covers the atoms messages are made
/// of (`ok`, `undefined`, `'$gen_call'`, record names) and short node names
/// such as `'rust@localhost'`; longer ones cost one shared allocation.
pub const INLINE_ATOM_BYTES: usize = 14;

/// An Erlang atom.
///
/// Cheap to clone (a 16-byte copy, or a reference count increment for long
/// atoms) and to compare (a byte comparison, which is Erlang's atom order).
/// Equality, ordering and hashing are by text.
///
/// ```
/// use erlnode::Atom;
/// let ok = Atom::from("ok");
/// assert_eq!(ok, "ok");
/// assert!(Atom::from("a") < Atom::from("b"));
/// ```
#[derive(Clone)]
pub struct Atom(Repr);

#[derive(Clone)]
enum Repr {
    Inline {
        len: u8,
        buf: [u8; INLINE_ATOM_BYTES],
    },
    Shared(ArcStr),
}

/// The text given for an atom is longer than [`MAX_ATOM_CHARS`] characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("atom has {chars} characters; Erlang atoms have at most 255")]
pub struct AtomTooLong {
    /// How many characters the text had.
    pub chars: usize,
}

impl Atom {
    /// Makes an atom, checking Erlang's 255-character limit.
    pub fn new(text: &str) -> Result<Atom, AtomTooLong> {
        // Byte length bounds the character count from above, so the count is
        // only needed for long texts.
        if text.len() > MAX_ATOM_CHARS {
            let chars = text.chars().count();
            if chars > MAX_ATOM_CHARS {
                return Err(AtomTooLong { chars });
            }
        }
        Ok(Atom::new_unchecked_len(text))
    }

    /// Makes an atom without the length check. The caller has already checked
    /// the length (the decoder, whose length fields cannot exceed the limit by
    /// more than the BEAM itself would accept).
    pub(crate) fn new_unchecked_len(text: &str) -> Atom {
        let bytes = text.as_bytes();
        if bytes.len() <= INLINE_ATOM_BYTES {
            let mut buf = [0u8; INLINE_ATOM_BYTES];
            if let Some(prefix) = buf.get_mut(..bytes.len()) {
                prefix.copy_from_slice(bytes);
            }
            Atom(Repr::Inline {
                len: bytes.len() as u8,
                buf,
            })
        } else {
            Atom(Repr::Shared(ArcStr::from(text)))
        }
    }

    /// An inline atom straight from wire bytes, when they are ASCII (so valid
    /// UTF-8 and Latin-1 alike, and within the length limit) and short
    /// enough to be inline; `None` otherwise. The decoder's fast path: no
    /// UTF-8 validation, no character count.
    #[inline]
    pub(crate) fn from_short_ascii(bytes: &[u8]) -> Option<Atom> {
        if bytes.len() > INLINE_ATOM_BYTES || !bytes.is_ascii() {
            return None;
        }
        let mut buf = [0u8; INLINE_ATOM_BYTES];
        buf.get_mut(..bytes.len())?.copy_from_slice(bytes);
        Some(Atom(Repr::Inline {
            len: bytes.len() as u8,
            buf,
        }))
    }

    /// The inline atom of the first `len` bytes of `window`, if they are
    /// ASCII and fit inline; `None` otherwise. The window is read as one
    /// 128-bit number, cut to `len` bytes by a mask and checked for ASCII
    /// with one test, which compiles to a few vector instructions: the
    /// decoder's fastest path (a byte loop here cost about 80 instructions
    /// an atom).
    #[inline(always)]
    pub(crate) fn inline_ascii_from_window(window: &[u8; 16], len: u8) -> Option<Atom> {
        if usize::from(len) > INLINE_ATOM_BYTES {
            return None;
        }
        // `len` is at most 14, so the shift is at most 112 bits.
        let mask = (1u128 << (8 * u32::from(len))) - 1;
        let text = u128::from_le_bytes(*window) & mask;
        if text & u128::from_le_bytes([0x80; 16]) != 0 {
            return None;
        }
        let bytes = text.to_le_bytes();
        let buf = *bytes.first_chunk::<INLINE_ATOM_BYTES>()?;
        Some(Atom(Repr::Inline { len, buf }))
    }

    /// Appends `SMALL_ATOM_UTF8_EXT` for an inline atom and returns true;
    /// false (nothing written) for a shared one. Copies the whole fixed-size
    /// inline buffer and cuts it back, which compiles to a few moves instead
    /// of a `memcpy` call per atom: the encoder's fast path.
    #[inline]
    pub(crate) fn write_small_utf8_ext(&self, tag: u8, out: &mut Vec<u8>) -> bool {
        let Repr::Inline { len, buf } = &self.0 else {
            return false;
        };
        let end = out.len() + 2 + usize::from(*len);
        out.extend_from_slice(&[tag, *len]);
        out.extend_from_slice(buf);
        out.truncate(end);
        true
    }

    /// True if the text is stored inline (no heap block to free).
    #[inline]
    pub(crate) fn is_inline(&self) -> bool {
        matches!(self.0, Repr::Inline { .. })
    }

    /// The atom's text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            Repr::Inline { len, buf } => {
                // The buffer holds a prefix copied from a `&str`, cut at its
                // full length, so it is always valid UTF-8.
                std::str::from_utf8(buf.get(..*len as usize).unwrap_or_default())
                    .unwrap_or_default()
            }
            Repr::Shared(s) => s,
        }
    }

    /// The atom's text as bytes (UTF-8).
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            // `len` never exceeds the buffer (new_unchecked_len).
            Repr::Inline { len, buf } => buf.get(..*len as usize).unwrap_or_default(),
            Repr::Shared(s) => s.as_bytes(),
        }
    }

    /// Length of the text in bytes.
    pub fn len(&self) -> usize {
        self.as_bytes().len()
    }

    /// True for the empty atom `''`.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when the atom must be quoted in Erlang syntax (`'hello world'`).
    pub fn needs_quotes(&self) -> bool {
        crate::term::text::atom_needs_quotes(self.as_str())
    }
}

impl From<&str> for Atom {
    /// Makes an atom from Rust text.
    ///
    /// # Panics
    /// If `text` has more than 255 characters. That is a programming error in
    /// the caller (atoms decoded from the network never panic); use
    /// [`Atom::new`] for text of unknown length.
    fn from(text: &str) -> Atom {
        match Atom::new(text) {
            Ok(a) => a,
            // AUDIT: documented panic on a programming error in Rust code;
            // the decoder never calls this (it uses new_unchecked_len).
            #[allow(clippy::panic)]
            Err(e) => panic!("Atom::from: {e}"),
        }
    }
}

impl From<String> for Atom {
    /// See [`From<&str>`](#impl-From<%26str>-for-Atom).
    fn from(text: String) -> Atom {
        Atom::from(text.as_str())
    }
}

impl TryFrom<&[u8]> for Atom {
    type Error = crate::term::DecodeError;
    /// Makes an atom from UTF-8 bytes, as found on the wire.
    fn try_from(bytes: &[u8]) -> Result<Atom, Self::Error> {
        let text =
            std::str::from_utf8(bytes).map_err(|_| crate::term::DecodeError::InvalidUtf8Atom)?;
        Atom::new(text).map_err(|e| crate::term::DecodeError::AtomTooLong { chars: e.chars })
    }
}

impl PartialEq for Atom {
    fn eq(&self, other: &Atom) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}
impl Eq for Atom {}

impl PartialEq<str> for Atom {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}
impl PartialEq<&str> for Atom {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialOrd for Atom {
    fn partial_cmp(&self, other: &Atom) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Atom {
    /// Erlang orders atoms by their text; byte order of UTF-8 is code point order.
    fn cmp(&self, other: &Atom) -> std::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl Hash for Atom {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state)
    }
}

impl Borrow<str> for Atom {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Atom {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for Atom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Atom {
    /// Prints as Erlang does: quoted when needed (`'hello world'`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::term::text::write_atom(f, self.as_str())
    }
}

impl Default for Atom {
    /// The empty atom `''`.
    fn default() -> Atom {
        Atom::new_unchecked_len("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_atoms_are_cut_to_their_length() {
        // Bytes past the atom (the next term's) are neither kept nor checked.
        let mut window = [0xffu8; 16];
        window[..14].copy_from_slice(b"abcdefghijklmn");
        for len in 0..=14u8 {
            let text = std::str::from_utf8(&window[..usize::from(len)]).unwrap();
            let a = Atom::inline_ascii_from_window(&window, len).unwrap();
            assert_eq!(a, Atom::from(text));
            assert_eq!(a.as_str(), text);
            assert!(a.is_inline());
        }
        // Too long to be inline: the general path takes it.
        assert!(Atom::inline_ascii_from_window(&window, 15).is_none());
        assert!(Atom::inline_ascii_from_window(&window, 255).is_none());
        // A byte that is not ASCII within the length, at either end.
        for at in [0, 5, 13] {
            let mut w = [b'x'; 16];
            w[at] = 0xc3;
            assert!(Atom::inline_ascii_from_window(&w, 14).is_none(), "{at}");
            let cut = u8::try_from(at).unwrap();
            assert_eq!(
                Atom::inline_ascii_from_window(&w, cut),
                Some(Atom::from("x".repeat(at).as_str()))
            );
        }
    }

    #[test]
    fn inline_and_shared_compare_by_text() {
        let short = Atom::from("ok");
        let long = Atom::from("a_rather_long_atom_name_that_is_not_inline");
        assert_eq!(short.as_str(), "ok");
        assert_eq!(long.as_str(), "a_rather_long_atom_name_that_is_not_inline");
        assert!(short > long);
        assert_eq!(long.clone(), long);
    }

    #[test]
    fn limit_is_in_characters_not_bytes() {
        let ok = "ö".repeat(255);
        assert!(Atom::new(&ok).is_ok());
        let too_long = "a".repeat(256);
        assert_eq!(
            Atom::new(&too_long).unwrap_err(),
            AtomTooLong { chars: 256 }
        );
    }

    #[test]
    fn atom_is_two_words() {
        assert_eq!(std::mem::size_of::<Atom>(), 16);
    }
}
