//! Handshake messages (PROTOCOL.md §2.2): parse and encode payloads, without
//! the length prefix (the IO layer frames them).
//!
//! Trailing bytes are ignored where `dist_util` ignores them (after the name in
//! the `'N'` send_name and challenge, after `named:`'s creation); every other
//! message has an exact length.

use super::digest::{DIGEST_LEN, Digest};
use super::flags::DistFlags;
use super::{HandshakeError, OLD_HANDSHAKE_VERSION, Status};
use crate::name::NodeName;

/// Tag of the v6 send_name and of the v6 challenge.
pub const TAG_NEW: u8 = b'N';
/// Tag of the old (v5) send_name and challenge.
pub const TAG_OLD: u8 = b'n';
/// Tag of a status message.
pub const TAG_STATUS: u8 = b's';
/// Tag of the complement.
pub const TAG_COMPLEMENT: u8 = b'c';
/// Tag of the challenge reply.
pub const TAG_CHALLENGE_REPLY: u8 = b'r';
/// Tag of the challenge ack.
pub const TAG_CHALLENGE_ACK: u8 = b'a';

/// `'c', FlagsHigh:u32, Creation:u32`.
pub const COMPLEMENT_LEN: usize = 9;
/// `'r', Challenge:u32, Digest[16]`.
pub const CHALLENGE_REPLY_LEN: usize = 1 + 4 + DIGEST_LEN;
/// `'a', Digest[16]`.
pub const CHALLENGE_ACK_LEN: usize = 1 + DIGEST_LEN;
/// The status prefix of a dynamic-name answer.
pub const NAMED_PREFIX: &[u8] = b"named:";

/// Reads big-endian fields, failing with `Malformed` instead of panicking.
struct Reader<'a> {
    buf: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8], what: &'static str) -> Reader<'a> {
        Reader { buf, what }
    }

    fn take(&mut self, n: usize, field: &str) -> Result<&'a [u8], HandshakeError> {
        if self.buf.len() < n {
            return Err(HandshakeError::malformed(
                self.what,
                format!(
                    "too short for {field}: need {n} more bytes, have {}",
                    self.buf.len()
                ),
            ));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, field: &str) -> Result<[u8; N], HandshakeError> {
        let s = self.take(N, field)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn u8(&mut self, field: &str) -> Result<u8, HandshakeError> {
        Ok(u8::from_be_bytes(self.array(field)?))
    }

    fn u16(&mut self, field: &str) -> Result<u16, HandshakeError> {
        Ok(u16::from_be_bytes(self.array(field)?))
    }

    fn u32(&mut self, field: &str) -> Result<u32, HandshakeError> {
        Ok(u32::from_be_bytes(self.array(field)?))
    }

    fn u64(&mut self, field: &str) -> Result<u64, HandshakeError> {
        Ok(u64::from_be_bytes(self.array(field)?))
    }

    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.buf)
    }

    fn expect_end(&self) -> Result<(), HandshakeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(HandshakeError::malformed(
                self.what,
                format!("{} unexpected trailing bytes", self.buf.len()),
            ))
        }
    }
}

fn tag_error(expected: &'static str, payload: &[u8]) -> HandshakeError {
    match payload.first() {
        Some(&t) => HandshakeError::UnexpectedMessage {
            expected,
            tag: char::from(t),
        },
        None => HandshakeError::malformed(expected, "empty message"),
    }
}

fn name_len(name: &[u8], what: &'static str) -> Result<u16, HandshakeError> {
    u16::try_from(name.len())
        .map_err(|_| HandshakeError::malformed(what, "name longer than 65535 bytes"))
}

/// send_name (step 1): `'N'` (v6) or `'n'` (v5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendName {
    /// Advertised flags (only the low 32 bits in `'n'`).
    pub flags: DistFlags,
    /// The creation (`'N'` only; `None` for `'n'`).
    pub creation: Option<u32>,
    /// The version field of an `'n'` (`None` for `'N'`).
    pub version: Option<u16>,
    /// The node name, or only the host when NAME_ME is set.
    pub name: Vec<u8>,
}

impl SendName {
    /// The v6 `'N'` send_name.
    pub fn new(flags: DistFlags, creation: u32, name: &[u8]) -> SendName {
        SendName {
            flags,
            creation: Some(creation),
            version: None,
            name: name.to_vec(),
        }
    }

    /// True for the old `'n'` form.
    pub fn is_old(&self) -> bool {
        self.creation.is_none()
    }

    /// Parses `'N'` or `'n'`.
    pub fn parse(payload: &[u8]) -> Result<SendName, HandshakeError> {
        const WHAT: &str = "send_name";
        let mut r = Reader::new(payload, WHAT);
        match r.u8("tag") {
            Ok(TAG_NEW) => {
                let flags = DistFlags(r.u64("flags")?);
                let creation = r.u32("creation")?;
                let nlen = r.u16("name length")?;
                let name = r.take(usize::from(nlen), "name")?.to_vec();
                // dist_util:recv_name_new ignores what follows the name.
                Ok(SendName {
                    flags,
                    creation: Some(creation),
                    version: None,
                    name,
                })
            }
            Ok(TAG_OLD) => {
                let version = r.u16("version")?;
                let flags = DistFlags(u64::from(r.u32("flags")?));
                let name = r.rest().to_vec();
                Ok(SendName {
                    flags,
                    creation: None,
                    version: Some(version),
                    name,
                })
            }
            _ => Err(tag_error("send_name ('N' or 'n')", payload)),
        }
    }

    /// Encodes `'N'`, or `'n'` (version 5, low 32 flag bits) when `creation` is `None`.
    pub fn encode(&self) -> Result<Vec<u8>, HandshakeError> {
        match self.creation {
            Some(creation) => {
                let nlen = name_len(&self.name, "send_name")?;
                let mut out = Vec::with_capacity(15 + self.name.len());
                out.push(TAG_NEW);
                out.extend_from_slice(&self.flags.bits().to_be_bytes());
                out.extend_from_slice(&creation.to_be_bytes());
                out.extend_from_slice(&nlen.to_be_bytes());
                out.extend_from_slice(&self.name);
                Ok(out)
            }
            None => {
                let mut out = Vec::with_capacity(7 + self.name.len());
                out.push(TAG_OLD);
                out.extend_from_slice(&self.version.unwrap_or(OLD_HANDSHAKE_VERSION).to_be_bytes());
                // Truncation to the low half is what the old format carries.
                out.extend_from_slice(&((self.flags.bits() & 0xFFFF_FFFF) as u32).to_be_bytes());
                out.extend_from_slice(&self.name);
                Ok(out)
            }
        }
    }
}

impl Status {
    /// Parses a status message (`'s'` + text, or `'s' "named:" ...`).
    pub fn parse(payload: &[u8]) -> Result<Status, HandshakeError> {
        const WHAT: &str = "status";
        let Some((&TAG_STATUS, text)) = payload.split_first() else {
            return Err(tag_error("status ('s')", payload));
        };
        if let Some(rest) = text.strip_prefix(NAMED_PREFIX) {
            let mut r = Reader::new(rest, WHAT);
            let nlen = r.u16("name length")?;
            let name = r.take(usize::from(nlen), "name")?;
            let creation = r.u32("creation")?;
            // Trailing bytes after the creation are ignored, as dist_util does.
            let name =
                NodeName::from_bytes(name).map_err(|source| HandshakeError::BadName { source })?;
            return Ok(Status::Named { name, creation });
        }
        match text {
            b"ok" => Ok(Status::Ok),
            b"ok_simultaneous" => Ok(Status::OkSimultaneous),
            b"nok" => Ok(Status::Nok),
            b"not_allowed" => Ok(Status::NotAllowed),
            b"alive" => Ok(Status::Alive),
            other => Err(HandshakeError::malformed(
                WHAT,
                format!("unknown status {:?}", String::from_utf8_lossy(other)),
            )),
        }
    }

    /// Encodes the status message.
    pub fn encode(&self) -> Result<Vec<u8>, HandshakeError> {
        let mut out = vec![TAG_STATUS];
        out.extend_from_slice(self.as_str().as_bytes());
        if let Status::Named { name, creation } = self {
            out.extend_from_slice(&name_len(name.as_bytes(), "status")?.to_be_bytes());
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(&creation.to_be_bytes());
        }
        Ok(out)
    }
}

/// Parses the initiator's answer to `alive`: `"strue"` or `"sfalse"`.
pub fn parse_alive_answer(payload: &[u8]) -> Result<bool, HandshakeError> {
    match payload {
        b"strue" => Ok(true),
        b"sfalse" => Ok(false),
        [TAG_STATUS, rest @ ..] => Err(HandshakeError::malformed(
            "alive answer",
            format!(
                "expected \"true\" or \"false\", got {:?}",
                String::from_utf8_lossy(rest)
            ),
        )),
        _ => Err(tag_error("alive answer ('s')", payload)),
    }
}

/// Encodes the answer to `alive`.
pub fn encode_alive_answer(new_attempt: bool) -> Vec<u8> {
    if new_attempt {
        b"strue".to_vec()
    } else {
        b"sfalse".to_vec()
    }
}

/// The acceptor's challenge (step 3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The acceptor's flags (low 32 bits only in the old form).
    pub flags: DistFlags,
    /// The challenge to answer.
    pub challenge: u32,
    /// The acceptor's creation (`None` in the old `'n'` form).
    pub creation: Option<u32>,
    /// The acceptor's node name.
    pub name: Vec<u8>,
}

impl Challenge {
    /// Parses `'N'` (v6) or the pre-OTP-23 `'n'`.
    pub fn parse(payload: &[u8]) -> Result<Challenge, HandshakeError> {
        const WHAT: &str = "challenge";
        let mut r = Reader::new(payload, WHAT);
        match r.u8("tag") {
            Ok(TAG_NEW) => {
                let flags = DistFlags(r.u64("flags")?);
                let challenge = r.u32("challenge")?;
                let creation = r.u32("creation")?;
                let nlen = r.u16("name length")?;
                let name = r.take(usize::from(nlen), "name")?.to_vec();
                Ok(Challenge {
                    flags,
                    challenge,
                    creation: Some(creation),
                    name,
                })
            }
            Ok(TAG_OLD) => {
                let _version = r.u16("version")?;
                let flags = DistFlags(u64::from(r.u32("flags")?));
                let challenge = r.u32("challenge")?;
                Ok(Challenge {
                    flags,
                    challenge,
                    creation: None,
                    name: r.rest().to_vec(),
                })
            }
            _ => Err(tag_error("challenge ('N')", payload)),
        }
    }

    /// Encodes the v6 `'N'` challenge (`creation` must be `Some`; OTP 25+ only
    /// ever sends this form).
    pub fn encode(&self) -> Result<Vec<u8>, HandshakeError> {
        let nlen = name_len(&self.name, "challenge")?;
        let mut out = Vec::with_capacity(19 + self.name.len());
        out.push(TAG_NEW);
        out.extend_from_slice(&self.flags.bits().to_be_bytes());
        out.extend_from_slice(&self.challenge.to_be_bytes());
        out.extend_from_slice(&self.creation.unwrap_or(0).to_be_bytes());
        out.extend_from_slice(&nlen.to_be_bytes());
        out.extend_from_slice(&self.name);
        Ok(out)
    }
}

/// The complement (step 3b) an initiator that sent `'n'` adds after an `'N'` challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Complement {
    /// The high 32 flag bits.
    pub flags_high: u32,
    /// The initiator's creation.
    pub creation: u32,
}

impl Complement {
    /// Parses exactly [`COMPLEMENT_LEN`] bytes.
    pub fn parse(payload: &[u8]) -> Result<Complement, HandshakeError> {
        let mut r = Reader::new(payload, "complement");
        if r.u8("tag")? != TAG_COMPLEMENT {
            return Err(tag_error("complement ('c')", payload));
        }
        let flags_high = r.u32("flags")?;
        let creation = r.u32("creation")?;
        r.expect_end()?;
        Ok(Complement {
            flags_high,
            creation,
        })
    }

    /// Encodes it.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(COMPLEMENT_LEN);
        out.push(TAG_COMPLEMENT);
        out.extend_from_slice(&self.flags_high.to_be_bytes());
        out.extend_from_slice(&self.creation.to_be_bytes());
        out
    }
}

/// The initiator's challenge reply (step 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChallengeReply {
    /// The initiator's own challenge for the acceptor.
    pub challenge: u32,
    /// digest(acceptor's challenge, cookie).
    pub digest: Digest,
}

impl ChallengeReply {
    /// Parses exactly [`CHALLENGE_REPLY_LEN`] bytes.
    pub fn parse(payload: &[u8]) -> Result<ChallengeReply, HandshakeError> {
        let mut r = Reader::new(payload, "challenge_reply");
        if r.u8("tag")? != TAG_CHALLENGE_REPLY {
            return Err(tag_error("challenge_reply ('r')", payload));
        }
        let challenge = r.u32("challenge")?;
        let digest = r.array::<DIGEST_LEN>("digest")?;
        r.expect_end()?;
        Ok(ChallengeReply { challenge, digest })
    }

    /// Encodes it.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(CHALLENGE_REPLY_LEN);
        out.push(TAG_CHALLENGE_REPLY);
        out.extend_from_slice(&self.challenge.to_be_bytes());
        out.extend_from_slice(&self.digest);
        out
    }
}

/// The acceptor's challenge ack (step 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChallengeAck {
    /// digest(initiator's challenge, cookie).
    pub digest: Digest,
}

impl ChallengeAck {
    /// Parses exactly [`CHALLENGE_ACK_LEN`] bytes.
    pub fn parse(payload: &[u8]) -> Result<ChallengeAck, HandshakeError> {
        let mut r = Reader::new(payload, "challenge_ack");
        if r.u8("tag")? != TAG_CHALLENGE_ACK {
            return Err(tag_error("challenge_ack ('a')", payload));
        }
        let digest = r.array::<DIGEST_LEN>("digest")?;
        r.expect_end()?;
        Ok(ChallengeAck { digest })
    }

    /// Encodes it.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(CHALLENGE_ACK_LEN);
        out.push(TAG_CHALLENGE_ACK);
        out.extend_from_slice(&self.digest);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// OTP 25.2.3's send_name as observed on the wire (PROTOCOL.md §2.2).
    const OBSERVED_SEND_NAME: &[u8] = &[
        b'N', 0, 0, 0, 13, 7, 223, 127, 189, 107, 6, 183, 31, 0, 4, b'a', b'@', b'v', b'm',
    ];

    #[test]
    fn observed_send_name_round_trips() {
        let m = SendName::parse(OBSERVED_SEND_NAME).unwrap();
        assert_eq!(m.flags, DistFlags(0xD_07DF_7FBD));
        assert_eq!(m.creation, Some(0x6B06_B71F));
        assert_eq!(m.name, b"a@vm");
        assert!(!m.is_old());
        assert_eq!(m.encode().unwrap(), OBSERVED_SEND_NAME);
    }

    #[test]
    fn send_name_ignores_trailing_bytes_but_needs_the_whole_name() {
        let mut v = OBSERVED_SEND_NAME.to_vec();
        v.extend_from_slice(b"junk");
        assert_eq!(SendName::parse(&v).unwrap().name, b"a@vm");
        let short = &OBSERVED_SEND_NAME[..OBSERVED_SEND_NAME.len() - 1];
        assert!(matches!(
            SendName::parse(short),
            Err(HandshakeError::Malformed { .. })
        ));
        for n in 0..15 {
            assert!(SendName::parse(&OBSERVED_SEND_NAME[..n]).is_err());
        }
    }

    #[test]
    fn old_send_name() {
        let bytes = [b'n', 0, 5, 0x00, 0x07, 0xDF, 0x7F, b'x', b'@', b'h'];
        let m = SendName::parse(&bytes).unwrap();
        assert_eq!(m.version, Some(5));
        assert_eq!(m.flags, DistFlags(0x0007_DF7F));
        assert_eq!(m.creation, None);
        assert_eq!(m.name, b"x@h");
        assert!(m.is_old());
        assert_eq!(m.encode().unwrap(), bytes);
    }

    #[test]
    fn send_name_wrong_tag() {
        assert!(matches!(
            SendName::parse(b"r1234"),
            Err(HandshakeError::UnexpectedMessage { tag: 'r', .. })
        ));
        assert!(matches!(
            SendName::parse(b""),
            Err(HandshakeError::Malformed { .. })
        ));
    }

    #[test]
    fn statuses() {
        for (bytes, st) in [
            (&b"sok"[..], Status::Ok),
            (b"sok_simultaneous", Status::OkSimultaneous),
            (b"snok", Status::Nok),
            (b"snot_allowed", Status::NotAllowed),
            (b"salive", Status::Alive),
        ] {
            assert_eq!(Status::parse(bytes).unwrap(), st);
            assert_eq!(st.encode().unwrap(), bytes);
        }
        assert!(Status::parse(b"sokay").is_err());
        assert!(Status::parse(b"sok ").is_err());
        assert!(Status::parse(b"s").is_err());
        assert!(matches!(
            Status::parse(b"Nok"),
            Err(HandshakeError::UnexpectedMessage { tag: 'N', .. })
        ));
    }

    #[test]
    fn named_status_matches_the_observed_bytes() {
        // PROTOCOL.md §2.5: "snamed:" <<0,16>> "2ZEJYR4NHNAUN@vm" <<144,104,53,213>>.
        let mut bytes = b"snamed:".to_vec();
        bytes.extend_from_slice(&[0, 16]);
        bytes.extend_from_slice(b"2ZEJYR4NHNAUN@vm");
        bytes.extend_from_slice(&[144, 104, 53, 213]);
        let st = Status::parse(&bytes).unwrap();
        let Status::Named { name, creation } = &st else {
            panic!("not named: {st:?}")
        };
        assert_eq!(name.as_str(), "2ZEJYR4NHNAUN@vm");
        assert_eq!(*creation, 0x9068_35D5);
        assert_eq!(st.encode().unwrap(), bytes);
        // Trailing bytes ignored; a missing creation is not.
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(Status::parse(&longer).unwrap(), st);
        assert!(Status::parse(&bytes[..bytes.len() - 1]).is_err());
        // The name must be a valid node name.
        let mut bad = b"snamed:".to_vec();
        bad.extend_from_slice(&[0, 2, b'x', b'y', 0, 0, 0, 5]);
        assert!(matches!(
            Status::parse(&bad),
            Err(HandshakeError::BadName { .. })
        ));
    }

    #[test]
    fn alive_answers() {
        assert!(parse_alive_answer(b"strue").unwrap());
        assert!(!parse_alive_answer(b"sfalse").unwrap());
        assert_eq!(encode_alive_answer(true), b"strue");
        assert_eq!(encode_alive_answer(false), b"sfalse");
        assert!(parse_alive_answer(b"syes").is_err());
        assert!(parse_alive_answer(b"rtrue").is_err());
    }

    #[test]
    fn challenge_bytes() {
        let c = Challenge {
            flags: DistFlags(0xD_07DF_7FBD),
            challenge: 0x0102_0304,
            creation: Some(0x0A0B_0C0D),
            name: b"a@vm".to_vec(),
        };
        let bytes = c.encode().unwrap();
        assert_eq!(
            bytes,
            [
                b'N', 0, 0, 0, 13, 7, 223, 127, 189, 1, 2, 3, 4, 10, 11, 12, 13, 0, 4, b'a', b'@',
                b'v', b'm'
            ]
        );
        assert_eq!(Challenge::parse(&bytes).unwrap(), c);
        let mut longer = bytes.clone();
        longer.extend_from_slice(b"zz");
        assert_eq!(Challenge::parse(&longer).unwrap(), c);
        for n in 0..bytes.len() {
            assert!(Challenge::parse(&bytes[..n]).is_err(), "{n}");
        }
        let old = [b'n', 0, 5, 0, 0, 0x0F, 0x94, 0, 0, 0, 9, b'b', b'@', b'h'];
        let o = Challenge::parse(&old).unwrap();
        assert_eq!(o.creation, None);
        assert_eq!(o.challenge, 9);
        assert_eq!(o.name, b"b@h");
    }

    #[test]
    fn complement_is_exactly_nine_bytes() {
        let c = Complement {
            flags_high: 0xD,
            creation: 77,
        };
        let bytes = c.encode();
        assert_eq!(bytes, [b'c', 0, 0, 0, 13, 0, 0, 0, 77]);
        assert_eq!(Complement::parse(&bytes).unwrap(), c);
        let mut long = bytes.clone();
        long.push(0);
        assert!(Complement::parse(&long).is_err());
        assert!(Complement::parse(&bytes[..8]).is_err());
    }

    #[test]
    fn reply_and_ack_have_exact_lengths() {
        let r = ChallengeReply {
            challenge: 289_359_286,
            digest: [0xAB; 16],
        };
        let bytes = r.encode();
        assert_eq!(bytes.len(), 21);
        assert_eq!(&bytes[..5], &[b'r', 0x11, 0x3F, 0x45, 0xB6]);
        assert_eq!(ChallengeReply::parse(&bytes).unwrap(), r);
        let mut long = bytes.clone();
        long.push(0);
        assert!(ChallengeReply::parse(&long).is_err());
        assert!(ChallengeReply::parse(&bytes[..20]).is_err());

        let a = ChallengeAck { digest: [0x5A; 16] };
        let bytes = a.encode();
        assert_eq!(bytes.len(), 17);
        assert_eq!(bytes[0], b'a');
        assert_eq!(ChallengeAck::parse(&bytes).unwrap(), a);
        let mut long = bytes.clone();
        long.push(0);
        assert!(ChallengeAck::parse(&long).is_err());
        assert!(ChallengeAck::parse(&bytes[..16]).is_err());
        assert!(matches!(
            ChallengeAck::parse(b"sok"),
            Err(HandshakeError::UnexpectedMessage { tag: 's', .. })
        ));
    }
}
