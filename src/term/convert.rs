//! Conversions between Rust values and terms.
//!
//! `Term::from(x)` (or `x.into()`) builds a term; `T::try_from(term)` (or
//! `T::try_from(&term)`) reads one back, with a [`TermConversionError`] that
//! says what was expected and what was found.
//!
//! | Rust type | Erlang term | Back from |
//! |---|---|---|
//! | `i8` … `i64`, `u8` … `u32`, `isize` | integer | integer in range |
//! | `u64`, `usize`, `i128`, `u128`, `BigInt` | integer (big when needed) | integer in range |
//! | `f64`, `f32` | float | float (not an integer: `1` is not `1.0`) |
//! | `bool` | `true` / `false` | those two atoms |
//! | `char` | integer (the code point, like `$a`) | integer that is a Unicode scalar |
//! | `&str`, `String` | **binary** (UTF-8), as Elixir and most modern Erlang APIs use | binary of UTF-8, or a list of code points (charlist) |
//! | [`Term::charlist`] | list of code points, like `"abc"` in Erlang | — |
//! | `Vec<T>`, `&[T]`, `[T; N]` | proper list | proper list |
//! | `()` | `{}` (Rust's unit is the empty tuple) | `{}` |
//! | `(A,)` … 12-tuples | tuple | tuple of that size |
//! | `HashMap<K, V>`, `BTreeMap<K, V>` | map | map |
//! | `Option<T>` | `undefined` for `None`, else `T` (OTP's convention) | `undefined` → `None` |
//! | [`Atom`], [`Pid`], [`Port`], [`Reference`], [`Map`], [`BitString`], [`ExportFun`] | themselves | themselves |
//! | [`Bytes`] | binary | binary |
//!
//! A list of bytes (`Vec<u8>`) becomes a list of integers, as any `Vec`;
//! use [`Term::binary`] or `Bytes` for a binary.

use super::display::short;
use super::{Atom, BitString, ExportFun, Map, Pid, Port, Reference, Term};
use bytes::Bytes;
use num_bigint::BigInt;
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, Hash};

/// How much of the offending term a [`TermConversionError`] quotes.
const ERROR_TERM_CHARS: usize = 80;

/// A term did not have the shape a Rust type needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected {expected}, got {got}")]
pub struct TermConversionError {
    /// What the Rust type needs.
    pub expected: &'static str,
    /// What the term was (printed, possibly shortened).
    pub got: String,
}

impl From<std::convert::Infallible> for TermConversionError {
    /// Lets conversions that cannot fail (`Term` to `Term`) sit inside
    /// `Vec`, `Option`, tuples and maps.
    fn from(never: std::convert::Infallible) -> TermConversionError {
        match never {}
    }
}

impl TermConversionError {
    /// The error for `term` where `expected` was needed.
    pub fn new(expected: &'static str, term: &Term) -> TermConversionError {
        TermConversionError {
            expected,
            got: short(term, ERROR_TERM_CHARS),
        }
    }
}

impl Term {
    /// A list of the string's code points: Erlang's `"abc"`, a "charlist".
    /// (`Term::from("abc")` makes a binary.)
    pub fn charlist(s: &str) -> Term {
        Term::List(
            s.chars()
                .map(|c| Term::Int(i64::from(u32::from(c))))
                .collect(),
        )
    }

    /// The text of a UTF-8 binary.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Term::Binary(b) => std::str::from_utf8(b).ok(),
            _ => None,
        }
    }
}

macro_rules! small_ints {
    ($($t:ty),*) => {$(
        impl From<$t> for Term {
            fn from(n: $t) -> Term {
                Term::Int(i64::from(n))
            }
        }
    )*};
}
small_ints!(i8, i16, i32, i64, u8, u16, u32);

macro_rules! wide_ints {
    ($($t:ty),*) => {$(
        impl From<$t> for Term {
            fn from(n: $t) -> Term {
                match i64::try_from(n) {
                    Ok(i) => Term::Int(i),
                    Err(_) => Term::BigInt(BigInt::from(n)),
                }
            }
        }
    )*};
}
wide_ints!(u64, usize, isize, i128, u128);

macro_rules! ints_back {
    ($($t:ty => $what:literal),*) => {$(
        impl TryFrom<&Term> for $t {
            type Error = TermConversionError;
            fn try_from(t: &Term) -> Result<$t, TermConversionError> {
                let err = || TermConversionError::new($what, t);
                match t {
                    Term::Int(i) => <$t>::try_from(*i).map_err(|_| err()),
                    Term::BigInt(b) => <$t>::try_from(b).map_err(|_| err()),
                    _ => Err(err()),
                }
            }
        }
        impl TryFrom<Term> for $t {
            type Error = TermConversionError;
            fn try_from(t: Term) -> Result<$t, TermConversionError> {
                <$t>::try_from(&t)
            }
        }
    )*};
}
ints_back!(
    i8 => "an integer in the range of i8",
    i16 => "an integer in the range of i16",
    i32 => "an integer in the range of i32",
    i64 => "an integer in the range of i64",
    i128 => "an integer in the range of i128",
    isize => "an integer in the range of isize",
    u8 => "an integer in the range of u8",
    u16 => "an integer in the range of u16",
    u32 => "an integer in the range of u32",
    u64 => "an integer in the range of u64",
    u128 => "an integer in the range of u128",
    usize => "an integer in the range of usize"
);

impl From<BigInt> for Term {
    /// `Int` when it fits an `i64`.
    fn from(n: BigInt) -> Term {
        Term::from_bigint(n)
    }
}

impl TryFrom<&Term> for BigInt {
    type Error = TermConversionError;
    fn try_from(t: &Term) -> Result<BigInt, TermConversionError> {
        match t {
            Term::Int(i) => Ok(BigInt::from(*i)),
            Term::BigInt(b) => Ok(b.clone()),
            _ => Err(TermConversionError::new("an integer", t)),
        }
    }
}

impl TryFrom<Term> for BigInt {
    type Error = TermConversionError;
    fn try_from(mut t: Term) -> Result<BigInt, TermConversionError> {
        match &mut t {
            Term::BigInt(b) => Ok(std::mem::take(b)),
            _ => BigInt::try_from(&t),
        }
    }
}

impl From<f64> for Term {
    fn from(f: f64) -> Term {
        Term::Float(f)
    }
}

impl From<f32> for Term {
    fn from(f: f32) -> Term {
        Term::Float(f64::from(f))
    }
}

impl TryFrom<&Term> for f64 {
    type Error = TermConversionError;
    fn try_from(t: &Term) -> Result<f64, TermConversionError> {
        match t {
            Term::Float(f) => Ok(*f),
            _ => Err(TermConversionError::new("a float", t)),
        }
    }
}

impl TryFrom<Term> for f64 {
    type Error = TermConversionError;
    fn try_from(t: Term) -> Result<f64, TermConversionError> {
        f64::try_from(&t)
    }
}

impl From<bool> for Term {
    /// The atom `true` or `false`.
    fn from(b: bool) -> Term {
        Term::atom(if b { "true" } else { "false" })
    }
}

impl TryFrom<&Term> for bool {
    type Error = TermConversionError;
    fn try_from(t: &Term) -> Result<bool, TermConversionError> {
        match t {
            Term::Atom(a) if a == "true" => Ok(true),
            Term::Atom(a) if a == "false" => Ok(false),
            _ => Err(TermConversionError::new("the atom true or false", t)),
        }
    }
}

impl TryFrom<Term> for bool {
    type Error = TermConversionError;
    fn try_from(t: Term) -> Result<bool, TermConversionError> {
        bool::try_from(&t)
    }
}

impl From<char> for Term {
    /// The code point, as Erlang's `$a`.
    fn from(c: char) -> Term {
        Term::Int(i64::from(u32::from(c)))
    }
}

impl TryFrom<&Term> for char {
    type Error = TermConversionError;
    fn try_from(t: &Term) -> Result<char, TermConversionError> {
        match t {
            Term::Int(i) => u32::try_from(*i).ok().and_then(char::from_u32),
            _ => None,
        }
        .ok_or_else(|| TermConversionError::new("an integer that is a Unicode code point", t))
    }
}

impl TryFrom<Term> for char {
    type Error = TermConversionError;
    fn try_from(t: Term) -> Result<char, TermConversionError> {
        char::try_from(&t)
    }
}

impl From<&str> for Term {
    /// A UTF-8 binary, `<<"..."/utf8>>`. Use [`Term::charlist`] for a list.
    fn from(s: &str) -> Term {
        Term::Binary(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl From<String> for Term {
    /// A UTF-8 binary, without copying the text.
    fn from(s: String) -> Term {
        Term::Binary(Bytes::from(s))
    }
}

impl From<&String> for Term {
    fn from(s: &String) -> Term {
        Term::from(s.as_str())
    }
}

const STRING_EXPECTED: &str = "a UTF-8 binary or a list of code points";

impl TryFrom<&Term> for String {
    type Error = TermConversionError;
    /// From a UTF-8 binary or a charlist (both are strings in Erlang).
    fn try_from(t: &Term) -> Result<String, TermConversionError> {
        let err = || TermConversionError::new(STRING_EXPECTED, t);
        match t {
            Term::Binary(b) => std::str::from_utf8(b).map(str::to_owned).map_err(|_| err()),
            Term::List(items) => items
                .iter()
                .map(|c| char::try_from(c).map_err(|_| err()))
                .collect(),
            _ => Err(err()),
        }
    }
}

impl TryFrom<Term> for String {
    type Error = TermConversionError;
    fn try_from(t: Term) -> Result<String, TermConversionError> {
        String::try_from(&t)
    }
}

impl<'a> TryFrom<&'a Term> for &'a str {
    type Error = TermConversionError;
    /// The text of a UTF-8 binary, borrowed.
    fn try_from(t: &'a Term) -> Result<&'a str, TermConversionError> {
        t.as_str()
            .ok_or_else(|| TermConversionError::new("a UTF-8 binary", t))
    }
}

impl From<Bytes> for Term {
    fn from(b: Bytes) -> Term {
        Term::Binary(b)
    }
}

impl TryFrom<&Term> for Bytes {
    type Error = TermConversionError;
    fn try_from(t: &Term) -> Result<Bytes, TermConversionError> {
        match t {
            Term::Binary(b) => Ok(b.clone()),
            _ => Err(TermConversionError::new("a binary", t)),
        }
    }
}

impl TryFrom<Term> for Bytes {
    type Error = TermConversionError;
    fn try_from(t: Term) -> Result<Bytes, TermConversionError> {
        Bytes::try_from(&t)
    }
}

impl<T: Into<Term>> From<Vec<T>> for Term {
    /// A proper list.
    fn from(v: Vec<T>) -> Term {
        Term::List(v.into_iter().map(Into::into).collect())
    }
}

impl<T: Into<Term> + Clone> From<&[T]> for Term {
    /// A proper list.
    fn from(v: &[T]) -> Term {
        Term::List(v.iter().cloned().map(Into::into).collect())
    }
}

impl<T: Into<Term>, const N: usize> From<[T; N]> for Term {
    /// A proper list.
    fn from(v: [T; N]) -> Term {
        Term::List(v.into_iter().map(Into::into).collect())
    }
}

impl<'a, T> TryFrom<&'a Term> for Vec<T>
where
    T: TryFrom<&'a Term>,
    TermConversionError: From<T::Error>,
{
    type Error = TermConversionError;
    fn try_from(t: &'a Term) -> Result<Vec<T>, TermConversionError> {
        match t {
            Term::List(items) => items
                .iter()
                .map(|x| T::try_from(x).map_err(Into::into))
                .collect(),
            _ => Err(TermConversionError::new("a proper list", t)),
        }
    }
}

impl<T> TryFrom<Term> for Vec<T>
where
    T: TryFrom<Term>,
    TermConversionError: From<T::Error>,
{
    type Error = TermConversionError;
    fn try_from(t: Term) -> Result<Vec<T>, TermConversionError> {
        match t.into_list() {
            Ok(items) => items
                .into_iter()
                .map(|x| T::try_from(x).map_err(Into::into))
                .collect(),
            Err(t) => Err(TermConversionError::new("a proper list", &t)),
        }
    }
}

impl<T: Into<Term>> From<Option<T>> for Term {
    /// `None` is the atom `undefined`, as in OTP's own APIs.
    fn from(o: Option<T>) -> Term {
        match o {
            Some(x) => x.into(),
            None => Term::atom("undefined"),
        }
    }
}

impl<'a, T> TryFrom<&'a Term> for Option<T>
where
    T: TryFrom<&'a Term, Error = TermConversionError>,
{
    type Error = TermConversionError;
    /// `undefined` is `None`; anything else must convert to `T`.
    fn try_from(t: &'a Term) -> Result<Option<T>, TermConversionError> {
        if t.is_atom("undefined") {
            Ok(None)
        } else {
            T::try_from(t).map(Some)
        }
    }
}

impl<T> TryFrom<Term> for Option<T>
where
    T: TryFrom<Term, Error = TermConversionError>,
{
    type Error = TermConversionError;
    fn try_from(t: Term) -> Result<Option<T>, TermConversionError> {
        if t.is_atom("undefined") {
            Ok(None)
        } else {
            T::try_from(t).map(Some)
        }
    }
}

impl From<()> for Term {
    /// The empty tuple `{}`.
    fn from(_: ()) -> Term {
        Term::Tuple(Vec::new())
    }
}

impl TryFrom<&Term> for () {
    type Error = TermConversionError;
    fn try_from(t: &Term) -> Result<(), TermConversionError> {
        match t {
            Term::Tuple(v) if v.is_empty() => Ok(()),
            _ => Err(TermConversionError::new("the empty tuple {}", t)),
        }
    }
}

impl TryFrom<Term> for () {
    type Error = TermConversionError;
    fn try_from(t: Term) -> Result<(), TermConversionError> {
        <()>::try_from(&t)
    }
}

macro_rules! tuples {
    ($($n:literal => ($($name:ident),+)),* $(,)?) => {$(
        impl<$($name: Into<Term>),+> From<($($name,)+)> for Term {
            /// A tuple of the same size.
            #[allow(non_snake_case)]
            fn from(($($name,)+): ($($name,)+)) -> Term {
                Term::Tuple(vec![$($name.into()),+])
            }
        }

        impl<'a, $($name),+> TryFrom<&'a Term> for ($($name,)+)
        where
            $($name: TryFrom<&'a Term>, TermConversionError: From<$name::Error>),+
        {
            type Error = TermConversionError;
            #[allow(non_snake_case)]
            fn try_from(t: &'a Term) -> Result<($($name,)+), TermConversionError> {
                match t {
                    Term::Tuple(v) if v.len() == $n => {
                        let mut it = v.iter();
                        $(
                            let $name = match it.next() {
                                Some(x) => $name::try_from(x)?,
                                None => return Err(TermConversionError::new(concat!("a tuple of size ", $n), t)),
                            };
                        )+
                        Ok(($($name,)+))
                    }
                    _ => Err(TermConversionError::new(concat!("a tuple of size ", $n), t)),
                }
            }
        }

        impl<$($name),+> TryFrom<Term> for ($($name,)+)
        where
            $($name: TryFrom<Term>, TermConversionError: From<$name::Error>),+
        {
            type Error = TermConversionError;
            #[allow(non_snake_case)]
            fn try_from(t: Term) -> Result<($($name,)+), TermConversionError> {
                match t.into_tuple() {
                    Ok(v) if v.len() == $n => {
                        let mut it = v.into_iter();
                        $(
                            let $name = match it.next() {
                                Some(x) => $name::try_from(x)?,
                                None => return Err(TermConversionError { expected: concat!("a tuple of size ", $n), got: String::new() }),
                            };
                        )+
                        Ok(($($name,)+))
                    }
                    Ok(v) => Err(TermConversionError::new(concat!("a tuple of size ", $n), &Term::Tuple(v))),
                    Err(t) => Err(TermConversionError::new(concat!("a tuple of size ", $n), &t)),
                }
            }
        }
    )*};
}

tuples! {
    1 => (A),
    2 => (A, B),
    3 => (A, B, C),
    4 => (A, B, C, D),
    5 => (A, B, C, D, E),
    6 => (A, B, C, D, E, F),
    7 => (A, B, C, D, E, F, G),
    8 => (A, B, C, D, E, F, G, H),
    9 => (A, B, C, D, E, F, G, H, I),
    10 => (A, B, C, D, E, F, G, H, I, J),
    11 => (A, B, C, D, E, F, G, H, I, J, K),
    12 => (A, B, C, D, E, F, G, H, I, J, K, L),
}

impl<K: Into<Term>, V: Into<Term>, S> From<HashMap<K, V, S>> for Term {
    /// A map.
    fn from(m: HashMap<K, V, S>) -> Term {
        Term::Map(Box::new(
            m.into_iter().map(|(k, v)| (k.into(), v.into())).collect(),
        ))
    }
}

impl<K: Into<Term>, V: Into<Term>> From<BTreeMap<K, V>> for Term {
    /// A map.
    fn from(m: BTreeMap<K, V>) -> Term {
        Term::Map(Box::new(
            m.into_iter().map(|(k, v)| (k.into(), v.into())).collect(),
        ))
    }
}

impl<'a, K, V, S> TryFrom<&'a Term> for HashMap<K, V, S>
where
    K: TryFrom<&'a Term> + Eq + Hash,
    V: TryFrom<&'a Term>,
    TermConversionError: From<K::Error> + From<V::Error>,
    S: BuildHasher + Default,
{
    type Error = TermConversionError;
    fn try_from(t: &'a Term) -> Result<HashMap<K, V, S>, TermConversionError> {
        match t {
            Term::Map(m) => m
                .iter()
                .map(|(k, v)| Ok((K::try_from(k)?, V::try_from(v)?)))
                .collect(),
            _ => Err(TermConversionError::new("a map", t)),
        }
    }
}

impl<K, V, S> TryFrom<Term> for HashMap<K, V, S>
where
    K: TryFrom<Term> + Eq + Hash,
    V: TryFrom<Term>,
    TermConversionError: From<K::Error> + From<V::Error>,
    S: BuildHasher + Default,
{
    type Error = TermConversionError;
    fn try_from(mut t: Term) -> Result<HashMap<K, V, S>, TermConversionError> {
        match &mut t {
            Term::Map(m) => std::mem::take(&mut **m)
                .into_entries()
                .into_iter()
                .map(|(k, v)| Ok((K::try_from(k)?, V::try_from(v)?)))
                .collect(),
            _ => Err(TermConversionError::new("a map", &t)),
        }
    }
}

impl<'a, K, V> TryFrom<&'a Term> for BTreeMap<K, V>
where
    K: TryFrom<&'a Term> + Ord,
    V: TryFrom<&'a Term>,
    TermConversionError: From<K::Error> + From<V::Error>,
{
    type Error = TermConversionError;
    fn try_from(t: &'a Term) -> Result<BTreeMap<K, V>, TermConversionError> {
        match t {
            Term::Map(m) => m
                .iter()
                .map(|(k, v)| Ok((K::try_from(k)?, V::try_from(v)?)))
                .collect(),
            _ => Err(TermConversionError::new("a map", t)),
        }
    }
}

impl<K, V> TryFrom<Term> for BTreeMap<K, V>
where
    K: TryFrom<Term> + Ord,
    V: TryFrom<Term>,
    TermConversionError: From<K::Error> + From<V::Error>,
{
    type Error = TermConversionError;
    fn try_from(mut t: Term) -> Result<BTreeMap<K, V>, TermConversionError> {
        match &mut t {
            Term::Map(m) => std::mem::take(&mut **m)
                .into_entries()
                .into_iter()
                .map(|(k, v)| Ok((K::try_from(k)?, V::try_from(v)?)))
                .collect(),
            _ => Err(TermConversionError::new("a map", &t)),
        }
    }
}

/// `From`/`TryFrom` for the parts that are terms in their own right.
macro_rules! parts {
    ($($ty:ty => $variant:ident, $what:literal, $wrap:expr, $unwrap:expr);* $(;)?) => {$(
        impl From<$ty> for Term {
            fn from(x: $ty) -> Term {
                Term::$variant($wrap(x))
            }
        }
        impl TryFrom<&Term> for $ty {
            type Error = TermConversionError;
            fn try_from(t: &Term) -> Result<$ty, TermConversionError> {
                match t {
                    Term::$variant(x) => Ok($unwrap(x)),
                    _ => Err(TermConversionError::new($what, t)),
                }
            }
        }
        impl TryFrom<Term> for $ty {
            type Error = TermConversionError;
            fn try_from(t: Term) -> Result<$ty, TermConversionError> {
                <$ty>::try_from(&t)
            }
        }
    )*};
}

fn same<T>(x: T) -> T {
    x
}

parts! {
    Atom => Atom, "an atom", same, Clone::clone;
    Pid => Pid, "a pid", same, Clone::clone;
    Port => Port, "a port", same, Clone::clone;
    Reference => Ref, "a reference", Box::new, |r: &Reference| r.clone();
    BitString => BitString, "a bitstring that is not a binary", Box::new, |b: &BitString| b.clone();
    ExportFun => Export, "an external fun (fun M:F/A)", Box::new, |e: &ExportFun| e.clone();
}

impl From<Map> for Term {
    fn from(m: Map) -> Term {
        Term::Map(Box::new(m))
    }
}

impl TryFrom<&Term> for Map {
    type Error = TermConversionError;
    fn try_from(t: &Term) -> Result<Map, TermConversionError> {
        match t {
            Term::Map(m) => Ok((**m).clone()),
            _ => Err(TermConversionError::new("a map", t)),
        }
    }
}

impl TryFrom<Term> for Map {
    type Error = TermConversionError;
    fn try_from(mut t: Term) -> Result<Map, TermConversionError> {
        match &mut t {
            Term::Map(m) => Ok(std::mem::take(&mut **m)),
            _ => Err(TermConversionError::new("a map", &t)),
        }
    }
}

impl TryFrom<&Term> for Term {
    type Error = TermConversionError;
    /// A copy; lets `Vec<Term>`, `Option<Term>` and tuples of terms convert
    /// from a borrowed term.
    fn try_from(t: &Term) -> Result<Term, TermConversionError> {
        Ok(t.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_round_trip_and_check_range() {
        assert_eq!(Term::from(5u8), Term::Int(5));
        assert_eq!(Term::from(u64::MAX).to_string(), "18446744073709551615");
        assert_eq!(u64::try_from(Term::from(u64::MAX)), Ok(u64::MAX));
        assert_eq!(i128::try_from(Term::from(i128::MIN)), Ok(i128::MIN));
        let err = u8::try_from(&Term::Int(300)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "expected an integer in the range of u8, got 300"
        );
        assert!(i32::try_from(Term::Float(1.0)).is_err());
    }

    #[test]
    fn strings_are_binaries() {
        assert_eq!(Term::from("héllo").to_string(), "<<\"héllo\"/utf8>>");
        assert_eq!(Term::charlist("abc").to_string(), "\"abc\"");
        assert_eq!(String::try_from(Term::from("héllo")).unwrap(), "héllo");
        assert_eq!(String::try_from(Term::charlist("héllo")).unwrap(), "héllo");
        let t = Term::from("x");
        let s: &str = (&t).try_into().unwrap();
        assert_eq!(s, "x");
        assert!(String::try_from(Term::binary([0xff])).is_err());
    }

    #[test]
    fn containers() {
        let t = Term::from((Term::atom("ok"), vec![1i32, 2], Some(true), None::<i32>, ()));
        assert_eq!(t.to_string(), "{ok,[1,2],true,undefined,{}}");
        let back: (Atom, Vec<i64>, Option<bool>, Option<i32>, ()) = t.try_into().unwrap();
        assert_eq!(back, (Atom::from("ok"), vec![1, 2], Some(true), None, ()));
        let m: HashMap<String, i32> = [("a".to_string(), 1)].into_iter().collect();
        let t = Term::from(m.clone());
        assert_eq!(t.to_string(), "#{<<\"a\">> => 1}");
        assert_eq!(HashMap::<String, i32>::try_from(&t).unwrap(), m);
        let b: BTreeMap<i32, bool> = [(1, true), (2, false)].into_iter().collect();
        let t = Term::from(b.clone());
        assert_eq!(t.to_string(), "#{1 => true,2 => false}");
        assert_eq!(BTreeMap::<i32, bool>::try_from(t).unwrap(), b);
    }

    #[test]
    fn terms_inside_containers_convert_as_they_are() {
        let t = Term::from(vec![Term::atom("a"), Term::Int(1)]);
        let v: Vec<Term> = t.clone().try_into().unwrap();
        assert_eq!(v, [Term::atom("a"), Term::Int(1)]);
        let v: Vec<Term> = (&t).try_into().unwrap();
        assert_eq!(v.len(), 2);
        let pair: (Term, i32) = Term::from((Term::atom("x"), 5)).try_into().unwrap();
        assert_eq!(pair, (Term::atom("x"), 5));
    }

    #[test]
    fn errors_name_what_was_expected_and_found() {
        let err = <(i32, i32)>::try_from(&Term::tuple(vec![Term::Int(1)])).unwrap_err();
        assert_eq!(err.to_string(), "expected a tuple of size 2, got {1}");
        let long = Term::list((0..1000).map(Term::Int).collect::<Vec<_>>());
        let err = bool::try_from(&long).unwrap_err();
        assert!(
            err.got.len() < 100 && err.got.ends_with("..."),
            "{}",
            err.got
        );
    }
}
