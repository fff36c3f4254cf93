//! Building the bits of a binary literal from its segments
//! (`<<1:16, "é"/utf8, 1.5/float-32>>`), as Erlang's bit syntax does. Used
//! by `parse.rs`.

#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

use super::parse::MAX_LITERAL_BINARY_BYTES;
use super::{BitString, Term};
use bytes::Bytes;
use num_bigint::BigInt;

pub(super) enum SegValue {
    Int(BigInt),
    Float(f64),
    Str(Vec<u32>),
    Bits(Term),
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Integer,
    Float,
    Binary,
    Bits,
    Utf8,
    Utf16,
    Utf32,
}

#[derive(Default)]
pub(super) struct Spec {
    pub(super) kind: Option<Kind>,
    pub(super) little: bool,
    pub(super) unit: Option<u64>,
}

/// Bits being built, most significant first.
#[derive(Default)]
pub(super) struct BitBuf {
    data: Vec<u8>,
    len: u64,
}

impl BitBuf {
    fn push_bit(&mut self, bit: bool) {
        let used = (self.len % 8) as u32;
        if used == 0 {
            self.data.push(0);
        }
        if bit {
            if let Some(last) = self.data.last_mut() {
                *last |= 0x80 >> used;
            }
        }
        self.len += 1;
    }

    fn room(&self, more_bits: u64) -> Result<(), String> {
        if (self.len + more_bits) / 8 > MAX_LITERAL_BINARY_BYTES as u64 {
            return Err(format!(
                "binary literal larger than {MAX_LITERAL_BINARY_BYTES} bytes"
            ));
        }
        Ok(())
    }

    /// The low `n` bits of `v` (two's complement), most significant first.
    fn push_int(&mut self, v: &BigInt, n: u64) -> Result<(), String> {
        self.room(n)?;
        for i in (0..n).rev() {
            self.push_bit(v.bit(i));
        }
        Ok(())
    }

    fn push_bytes(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.push_bits(bytes, bytes.len() as u64 * 8)
    }

    fn push_bits(&mut self, bytes: &[u8], n: u64) -> Result<(), String> {
        self.room(n)?;
        if self.len % 8 == 0 && n % 8 == 0 {
            let whole = bytes
                .get(..(n / 8) as usize)
                .ok_or_else(|| format!("{n} bits asked of a {}-byte value", bytes.len()))?;
            self.data.extend_from_slice(whole);
            self.len += n;
            return Ok(());
        }
        for i in 0..n {
            let byte = *bytes
                .get((i / 8) as usize)
                .ok_or_else(|| format!("{n} bits asked of a {}-byte value", bytes.len()))?;
            self.push_bit(byte & (0x80 >> (i % 8)) != 0);
        }
        Ok(())
    }

    pub(super) fn segment(
        &mut self,
        value: SegValue,
        size: Option<u64>,
        spec: &Spec,
    ) -> Result<(), String> {
        match value {
            SegValue::Str(chars) => {
                for c in chars {
                    self.segment(SegValue::Int(BigInt::from(c)), size, spec)?;
                }
                Ok(())
            }
            SegValue::Int(v) => match spec.kind.unwrap_or(Kind::Integer) {
                Kind::Integer => {
                    let n = size.unwrap_or(8) * spec.unit.unwrap_or(1);
                    if spec.little {
                        if n % 8 != 0 {
                            return Err(
                                "little-endian segments must be a whole number of bytes".into()
                            );
                        }
                        let mut le = Vec::new();
                        for byte in 0..n / 8 {
                            let mut b = 0u8;
                            for bit in 0..8 {
                                if v.bit(byte * 8 + bit) {
                                    b |= 1 << bit;
                                }
                            }
                            le.push(b);
                        }
                        self.push_bytes(&le)
                    } else {
                        self.push_int(&v, n)
                    }
                }
                Kind::Float => match v.to_string().parse::<f64>() {
                    Ok(f) => self.segment(SegValue::Float(f), size, spec),
                    Err(_) => Err("integer too large for a float segment".into()),
                },
                Kind::Utf8 | Kind::Utf16 | Kind::Utf32 => {
                    if size.is_some() {
                        return Err("utf8/utf16/utf32 segments take no size".into());
                    }
                    let c = u32::try_from(&v)
                        .ok()
                        .and_then(char::from_u32)
                        .ok_or_else(|| format!("{v} is not a Unicode code point"))?;
                    let plain = Spec {
                        kind: None,
                        unit: None,
                        ..*spec
                    };
                    match spec.kind {
                        Some(Kind::Utf8) => {
                            let mut buf = [0u8; 4];
                            self.push_bytes(c.encode_utf8(&mut buf).as_bytes())
                        }
                        Some(Kind::Utf16) => {
                            let mut buf = [0u16; 2];
                            for u in c.encode_utf16(&mut buf) {
                                self.segment(SegValue::Int(BigInt::from(*u)), Some(16), &plain)?;
                            }
                            Ok(())
                        }
                        _ => self.segment(
                            SegValue::Int(BigInt::from(u32::from(c))),
                            Some(32),
                            &plain,
                        ),
                    }
                }
                Kind::Binary | Kind::Bits => Err("an integer cannot be a binary segment".into()),
            },
            SegValue::Float(f) => {
                match spec.kind.unwrap_or(Kind::Float) {
                    Kind::Float => {}
                    _ => return Err("a float segment must have type float".into()),
                }
                let n = size.unwrap_or(64) * spec.unit.unwrap_or(1);
                let bytes = match n {
                    64 => f.to_be_bytes().to_vec(),
                    32 => (f as f32).to_be_bytes().to_vec(),
                    16 => f16_bits(f)?.to_be_bytes().to_vec(),
                    _ => return Err(format!("a float segment is 16, 32 or 64 bits, not {n}")),
                };
                let bytes = if spec.little {
                    bytes.into_iter().rev().collect()
                } else {
                    bytes
                };
                self.push_bytes(&bytes)
            }
            SegValue::Bits(t) => {
                let (data, len) = match &t {
                    Term::Binary(b) => (b.to_vec(), b.len() as u64 * 8),
                    Term::BitString(b) => (
                        b.data.to_vec(),
                        (b.data.len() as u64).saturating_sub(1) * 8
                            + u64::from(b.bits_in_last_byte),
                    ),
                    _ => (Vec::new(), 0),
                };
                let kind = spec.kind.unwrap_or(Kind::Integer);
                let unit = match kind {
                    Kind::Binary => spec.unit.unwrap_or(8),
                    Kind::Bits => spec.unit.unwrap_or(1),
                    _ => return Err("a binary inside a binary needs /binary or /bits".into()),
                };
                let n = match size {
                    Some(s) => s * unit,
                    None => len,
                };
                if n > len {
                    return Err(format!("segment of {n} bits from a binary of {len} bits"));
                }
                if kind == Kind::Binary && size.is_none() && len % 8 != 0 {
                    return Err("a bitstring is not a /binary; use /bits".into());
                }
                self.push_bits(&data, n)
            }
        }
    }

    pub(super) fn into_term(self) -> Term {
        let rest = (self.len % 8) as u8;
        if rest == 0 {
            Term::Binary(Bytes::from(self.data))
        } else {
            Term::BitString(Box::new(BitString {
                data: Bytes::from(self.data),
                bits_in_last_byte: rest,
            }))
        }
    }
}

/// IEEE half precision, rounding to nearest even; overflow is an error as
/// in Erlang.
fn f16_bits(f: f64) -> Result<u16, String> {
    let x = f as f32;
    let bits = x.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    let exp = ((bits >> 23) & 0xff) as i32;
    let man = bits & 0x7f_ffff;
    if x == 0.0 {
        return Ok(sign);
    }
    let e = exp - 127 + 15;
    if e >= 31 {
        return Err(format!("{f} does not fit a 16-bit float"));
    }
    if e <= 0 {
        // Subnormal half.
        if e < -10 {
            return Ok(sign);
        }
        let m = man | 0x80_0000;
        let shift = (14 - e) as u32;
        let half = m >> shift;
        let rem = m & ((1 << shift) - 1);
        let mid = 1 << (shift - 1);
        let rounded = if rem > mid || (rem == mid && half & 1 == 1) {
            half + 1
        } else {
            half
        };
        return Ok(sign | rounded as u16);
    }
    let half = ((e as u32) << 10) | (man >> 13);
    let rem = man & 0x1fff;
    let rounded = if rem > 0x1000 || (rem == 0x1000 && half & 1 == 1) {
        half + 1
    } else {
        half
    };
    if rounded >= 0x7c00 {
        return Err(format!("{f} does not fit a 16-bit float"));
    }
    Ok(sign | rounded as u16)
}
