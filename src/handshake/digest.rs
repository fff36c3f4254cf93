//! Challenges and digests (PROTOCOL.md §2.3, `dist_util:gen_digest/2`).

use md5::{Digest as _, Md5};
use rand::RngCore;

use crate::cookie::Cookie;

/// Length of an MD5 digest.
pub const DIGEST_LEN: usize = 16;

/// A handshake digest.
pub type Digest = [u8; DIGEST_LEN];

/// `MD5(Cookie ++ decimal(Challenge))`: the cookie's bytes followed by the
/// unsigned challenge in decimal ASCII, no sign, padding or separator.
pub fn digest(challenge: u32, cookie: &Cookie) -> Digest {
    let mut h = Md5::new();
    h.update(cookie.expose());
    h.update(challenge.to_string().as_bytes());
    h.finalize().into()
}

/// An unpredictable 32-bit challenge from the operating system's CSPRNG.
pub fn gen_challenge() -> u32 {
    rand::rngs::OsRng.next_u32()
}

/// Compares two digests in constant time (no early exit on the first
/// differing byte), so timing reveals nothing about the expected digest.
pub fn digests_equal(a: &Digest, b: &Digest) -> bool {
    let diff = a
        .iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_matches_the_spec_example() {
        // PROTOCOL.md §2.3: cookie `secret`, challenge 289359286 -> md5("secret289359286").
        let c = Cookie::new("secret").unwrap();
        let d = digest(289_359_286, &c);
        let want: Digest = Md5::digest(b"secret289359286").into();
        assert_eq!(d, want);
        assert_eq!(
            d.iter().map(|b| format!("{b:02x}")).collect::<String>(),
            hex_md5_of_secret289359286()
        );
    }

    /// The same value computed independently (`printf %s secret289359286 | md5sum`).
    fn hex_md5_of_secret289359286() -> &'static str {
        "837d1d60d8af4aa0b861e544168250e1"
    }

    #[test]
    fn large_challenge_is_unsigned_decimal() {
        let c = Cookie::new("k").unwrap();
        let want: Digest = Md5::digest(b"k4294967295").into();
        assert_eq!(digest(u32::MAX, &c), want);
        let want0: Digest = Md5::digest(b"k0").into();
        assert_eq!(digest(0, &c), want0);
    }

    #[test]
    fn compare_is_exact() {
        let a = [7u8; DIGEST_LEN];
        let mut b = a;
        assert!(digests_equal(&a, &b));
        b[15] ^= 1;
        assert!(!digests_equal(&a, &b));
        b = a;
        b[0] ^= 0x80;
        assert!(!digests_equal(&a, &b));
    }

    #[test]
    fn challenges_vary() {
        let xs: Vec<u32> = (0..8).map(|_| gen_challenge()).collect();
        assert!(xs.windows(2).any(|w| w[0] != w[1]));
    }
}
