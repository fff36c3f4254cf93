//! Distribution capability flags (`DFLAG_*`), PROTOCOL.md §2.7.
//!
//! Values come from `lib/kernel/include/dist.hrl` and `erts/emulator/beam/dist.h`.
//! Each side advertises its flags in the handshake; both keep the
//! intersection afterwards (`dist_util:adjust_flags/2`).

use std::fmt;
use std::ops::{BitAnd, BitOr, BitOrAssign, Not};

/// A set of distribution capability flags (a 64-bit `DFLAG_*` mask).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DistFlags(pub u64);

/// Names of the single-bit flags, lowest bit first, as `dist_util:dflag2str/1`
/// spells them (without the `DFLAG_` prefix).
const FLAG_NAMES: &[(u64, &str)] = &[
    (DistFlags::PUBLISHED.0, "PUBLISHED"),
    (DistFlags::ATOM_CACHE.0, "ATOM_CACHE"),
    (DistFlags::EXTENDED_REFERENCES.0, "EXTENDED_REFERENCES"),
    (DistFlags::DIST_MONITOR.0, "DIST_MONITOR"),
    (DistFlags::FUN_TAGS.0, "FUN_TAGS"),
    (DistFlags::DIST_MONITOR_NAME.0, "DIST_MONITOR_NAME"),
    (DistFlags::HIDDEN_ATOM_CACHE.0, "HIDDEN_ATOM_CACHE"),
    (DistFlags::NEW_FUN_TAGS.0, "NEW_FUN_TAGS"),
    (DistFlags::EXTENDED_PIDS_PORTS.0, "EXTENDED_PIDS_PORTS"),
    (DistFlags::EXPORT_PTR_TAG.0, "EXPORT_PTR_TAG"),
    (DistFlags::BIT_BINARIES.0, "BIT_BINARIES"),
    (DistFlags::NEW_FLOATS.0, "NEW_FLOATS"),
    (DistFlags::UNICODE_IO.0, "UNICODE_IO"),
    (DistFlags::DIST_HDR_ATOM_CACHE.0, "DIST_HDR_ATOM_CACHE"),
    (DistFlags::SMALL_ATOM_TAGS.0, "SMALL_ATOM_TAGS"),
    (DistFlags::ETS_COMPRESSED.0, "ETS_COMPRESSED"),
    (DistFlags::UTF8_ATOMS.0, "UTF8_ATOMS"),
    (DistFlags::MAP_TAG.0, "MAP_TAG"),
    (DistFlags::BIG_CREATION.0, "BIG_CREATION"),
    (DistFlags::SEND_SENDER.0, "SEND_SENDER"),
    (DistFlags::BIG_SEQTRACE_LABELS.0, "BIG_SEQTRACE_LABELS"),
    (DistFlags::PENDING_CONNECT.0, "PENDING_CONNECT"),
    (DistFlags::EXIT_PAYLOAD.0, "EXIT_PAYLOAD"),
    (DistFlags::FRAGMENTS.0, "FRAGMENTS"),
    (DistFlags::HANDSHAKE_23.0, "HANDSHAKE_23"),
    (DistFlags::UNLINK_ID.0, "UNLINK_ID"),
    (DistFlags::MANDATORY_25_DIGEST.0, "MANDATORY_25_DIGEST"),
    (DistFlags::SPAWN.0, "SPAWN"),
    (DistFlags::NAME_ME.0, "NAME_ME"),
    (DistFlags::V4_NC.0, "V4_NC"),
    (DistFlags::ALIAS.0, "ALIAS"),
    (DistFlags::LOCAL_EXT.0, "LOCAL_EXT"),
    (DistFlags::ALTACT_SIG.0, "ALTACT_SIG"),
];

impl DistFlags {
    /// The empty set.
    pub const EMPTY: DistFlags = DistFlags(0);

    /// Visible node. A hidden node must not set it.
    pub const PUBLISHED: DistFlags = DistFlags(0x1);
    /// Obsolete atom cache.
    pub const ATOM_CACHE: DistFlags = DistFlags(0x2);
    /// Extended references (mandatory).
    pub const EXTENDED_REFERENCES: DistFlags = DistFlags(0x4);
    /// MONITOR_P / DEMONITOR_P / MONITOR_P_EXIT.
    pub const DIST_MONITOR: DistFlags = DistFlags(0x8);
    /// FUN_EXT (mandatory).
    pub const FUN_TAGS: DistFlags = DistFlags(0x10);
    /// Monitors by registered name.
    pub const DIST_MONITOR_NAME: DistFlags = DistFlags(0x20);
    /// Obsolete hidden-node atom cache.
    pub const HIDDEN_ATOM_CACHE: DistFlags = DistFlags(0x40);
    /// NEW_FUN_EXT (mandatory).
    pub const NEW_FUN_TAGS: DistFlags = DistFlags(0x80);
    /// Extended pids and ports (mandatory).
    pub const EXTENDED_PIDS_PORTS: DistFlags = DistFlags(0x100);
    /// EXPORT_EXT (mandatory).
    pub const EXPORT_PTR_TAG: DistFlags = DistFlags(0x200);
    /// Bit binaries (mandatory).
    pub const BIT_BINARIES: DistFlags = DistFlags(0x400);
    /// NEW_FLOAT_EXT (mandatory).
    pub const NEW_FLOATS: DistFlags = DistFlags(0x800);
    /// Unicode I/O.
    pub const UNICODE_IO: DistFlags = DistFlags(0x1000);
    /// Atom cache in the distribution header (PROTOCOL.md §3.3).
    pub const DIST_HDR_ATOM_CACHE: DistFlags = DistFlags(0x2000);
    /// SMALL_ATOM_EXT.
    pub const SMALL_ATOM_TAGS: DistFlags = DistFlags(0x4000);
    /// Internal to ERTS; never on the wire.
    pub const ETS_COMPRESSED: DistFlags = DistFlags(0x8000);
    /// UTF-8 atoms (mandatory).
    pub const UTF8_ATOMS: DistFlags = DistFlags(0x1_0000);
    /// MAP_EXT (mandatory).
    pub const MAP_TAG: DistFlags = DistFlags(0x2_0000);
    /// 32-bit creation (mandatory).
    pub const BIG_CREATION: DistFlags = DistFlags(0x4_0000);
    /// SEND_SENDER instead of SEND.
    pub const SEND_SENDER: DistFlags = DistFlags(0x8_0000);
    /// Large sequential-trace labels.
    pub const BIG_SEQTRACE_LABELS: DistFlags = DistFlags(0x10_0000);
    /// Internal to ERTS (also NO_MAGIC); never on the wire.
    pub const PENDING_CONNECT: DistFlags = DistFlags(0x20_0000);
    /// PAYLOAD_* exit and down signals.
    pub const EXIT_PAYLOAD: DistFlags = DistFlags(0x40_0000);
    /// Fragmented messages (PROTOCOL.md §3.4).
    pub const FRAGMENTS: DistFlags = DistFlags(0x80_0000);
    /// The OTP 23 handshake (`'N'`); mandatory from OTP 25.
    pub const HANDSHAKE_23: DistFlags = DistFlags(0x100_0000);
    /// The new link protocol; mandatory from OTP 26.
    pub const UNLINK_ID: DistFlags = DistFlags(0x200_0000);
    /// "All OTP 25 mandatory flags" (bit 26; the doc's `1 bsl 36` is wrong).
    pub const MANDATORY_25_DIGEST: DistFlags = DistFlags(0x400_0000);
    /// SPAWN_REQUEST / SPAWN_REPLY.
    pub const SPAWN: DistFlags = DistFlags(1 << 32);
    /// Request a dynamic node name (not a capability).
    pub const NAME_ME: DistFlags = DistFlags(1 << 33);
    /// 64-bit port ids, full 32-bit pid fields, up to 5 reference words; mandatory from OTP 26.
    pub const V4_NC: DistFlags = DistFlags(1 << 34);
    /// ALIAS_SEND (OTP 24+).
    pub const ALIAS: DistFlags = DistFlags(1 << 35);
    /// Internal (`term_to_binary` `local`); never set it.
    pub const LOCAL_EXT: DistFlags = DistFlags(1 << 36);
    /// OTP 28 alternate-action signals.
    pub const ALTACT_SIG: DistFlags = DistFlags(1 << 37);

    /// What OTP 25 requires from a peer (`0x01070F94`, `erts_internal:get_dflags()`
    /// on 25.2.3). MANDATORY_25_DIGEST stands for all of these.
    pub const MANDATORY_25: DistFlags = DistFlags(
        Self::EXTENDED_REFERENCES.0
            | Self::FUN_TAGS.0
            | Self::NEW_FUN_TAGS.0
            | Self::EXTENDED_PIDS_PORTS.0
            | Self::EXPORT_PTR_TAG.0
            | Self::BIT_BINARIES.0
            | Self::NEW_FLOATS.0
            | Self::UTF8_ATOMS.0
            | Self::MAP_TAG.0
            | Self::BIG_CREATION.0
            | Self::HANDSHAKE_23.0,
    );

    /// What OTP 26 and later require: the OTP 25 set plus V4_NC and UNLINK_ID
    /// (`DFLAG_DIST_MANDATORY_26` in `dist.h`).
    pub const MANDATORY_26: DistFlags =
        DistFlags(Self::MANDATORY_25.0 | Self::V4_NC.0 | Self::UNLINK_ID.0);

    /// The capabilities a hidden erlnode advertises beyond the mandatory sets
    /// (PROTOCOL.md §2.7): everything erlnode implements, including the
    /// distribution header atom cache (§3.3) and fragments (§3.4).
    pub const RECOMMENDED_OPTIONAL: DistFlags = DistFlags(
        Self::MANDATORY_25_DIGEST.0
            | Self::DIST_MONITOR.0
            | Self::DIST_MONITOR_NAME.0
            | Self::SEND_SENDER.0
            | Self::EXIT_PAYLOAD.0
            | Self::BIG_SEQTRACE_LABELS.0
            | Self::UNICODE_IO.0
            | Self::SMALL_ATOM_TAGS.0
            | Self::SPAWN.0
            | Self::ALIAS.0
            | Self::DIST_HDR_ATOM_CACHE.0
            | Self::FRAGMENTS.0,
    );

    /// The flags erlnode advertises as a hidden node: `0xD_07DF_7FBC`
    /// ([`DistFlags::MANDATORY_26`] + [`DistFlags::RECOMMENDED_OPTIONAL`]),
    /// PROTOCOL.md §2.7's `0xD_075F_5FBC` plus DIST_HDR_ATOM_CACHE and
    /// FRAGMENTS. No PUBLISHED, NAME_ME or ALTACT_SIG.
    pub const RECOMMENDED_HIDDEN: DistFlags =
        DistFlags(Self::MANDATORY_26.0 | Self::RECOMMENDED_OPTIONAL.0);

    /// The raw mask.
    pub const fn bits(self) -> u64 {
        self.0
    }

    /// True if every flag in `other` is set here.
    pub const fn contains(self, other: DistFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// True if no flag is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Flags set in either.
    pub const fn union(self, other: DistFlags) -> DistFlags {
        DistFlags(self.0 | other.0)
    }

    /// Flags set in both (what a connection uses after the handshake).
    pub const fn intersection(self, other: DistFlags) -> DistFlags {
        DistFlags(self.0 & other.0)
    }

    /// These flags without those in `other`.
    pub const fn difference(self, other: DistFlags) -> DistFlags {
        DistFlags(self.0 & !other.0)
    }

    /// The flags of `required` that are not set here.
    pub const fn missing(self, required: DistFlags) -> DistFlags {
        required.difference(self)
    }

    /// With MANDATORY_25_DIGEST expanded into every OTP 25 mandatory flag, as
    /// `dist_util:expand_mandatory_25_flag/1` does before checking a peer.
    pub const fn expand_mandatory_25(self) -> DistFlags {
        if self.0 & Self::MANDATORY_25_DIGEST.0 != 0 {
            DistFlags(self.0 | Self::MANDATORY_25.0)
        } else {
            self
        }
    }

    /// The names of the set flags, lowest bit first; unknown bits appear as
    /// `UNKNOWN<hex>` like `dist_util:dflag2str/1` prints them.
    pub fn names(self) -> Vec<String> {
        let mut out = Vec::new();
        let mut rest = self.0;
        while rest != 0 {
            let bit = rest & rest.wrapping_neg();
            rest &= !bit;
            match FLAG_NAMES.iter().find(|(b, _)| *b == bit) {
                Some((_, name)) => out.push((*name).to_string()),
                None => out.push(format!("UNKNOWN<{bit:X}>")),
            }
        }
        out
    }
}

impl fmt::Display for DistFlags {
    /// The flag names separated by ", " (e.g. `V4_NC, UNLINK_ID`), or `none`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("none");
        }
        f.write_str(&self.names().join(", "))
    }
}

impl fmt::Debug for DistFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DistFlags({:#x}: {})", self.0, self)
    }
}

impl fmt::LowerHex for DistFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::LowerHex::fmt(&self.0, f)
    }
}

impl fmt::UpperHex for DistFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::UpperHex::fmt(&self.0, f)
    }
}

impl BitOr for DistFlags {
    type Output = DistFlags;
    fn bitor(self, rhs: DistFlags) -> DistFlags {
        self.union(rhs)
    }
}

impl BitOrAssign for DistFlags {
    fn bitor_assign(&mut self, rhs: DistFlags) {
        self.0 |= rhs.0;
    }
}

impl BitAnd for DistFlags {
    type Output = DistFlags;
    fn bitand(self, rhs: DistFlags) -> DistFlags {
        self.intersection(rhs)
    }
}

impl Not for DistFlags {
    type Output = DistFlags;
    fn not(self) -> DistFlags {
        DistFlags(!self.0)
    }
}

impl From<u64> for DistFlags {
    fn from(bits: u64) -> DistFlags {
        DistFlags(bits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mandatory_sets_match_the_spec() {
        assert_eq!(DistFlags::MANDATORY_25.0, 0x0107_0F94);
        assert_eq!(DistFlags::MANDATORY_26.0, 0x4_0307_0F94);
    }

    #[test]
    fn recommended_hidden_is_the_documented_value() {
        assert_eq!(DistFlags::RECOMMENDED_HIDDEN.0, 0xD_07DF_7FBC);
        assert!(!DistFlags::RECOMMENDED_HIDDEN.contains(DistFlags::PUBLISHED));
        assert!(!DistFlags::RECOMMENDED_HIDDEN.contains(DistFlags::NAME_ME));
        assert!(!DistFlags::RECOMMENDED_HIDDEN.contains(DistFlags::LOCAL_EXT));
        assert!(DistFlags::RECOMMENDED_HIDDEN.contains(DistFlags::MANDATORY_26));
    }

    #[test]
    fn otp25_default_expands_and_passes_mandatory_26() {
        // OTP 25.2.3's default plus PUBLISHED, from the observed send_name.
        let otp = DistFlags(0xD_07DF_7FBD);
        assert!(otp.expand_mandatory_25().contains(DistFlags::MANDATORY_26));
    }

    #[test]
    fn digest_alone_expands_to_the_otp25_set() {
        let f = DistFlags::MANDATORY_25_DIGEST.expand_mandatory_25();
        assert!(f.contains(DistFlags::MANDATORY_25));
        assert_eq!(
            f.missing(DistFlags::MANDATORY_26).to_string(),
            "UNLINK_ID, V4_NC"
        );
        // Without the digest bit nothing is added.
        assert_eq!(DistFlags::SPAWN.expand_mandatory_25(), DistFlags::SPAWN);
    }

    #[test]
    fn names_lists_known_and_unknown_bits() {
        let f = DistFlags::V4_NC | DistFlags::UNLINK_ID | DistFlags(1 << 40);
        assert_eq!(
            f.names(),
            vec!["UNLINK_ID", "V4_NC", "UNKNOWN<10000000000>"]
        );
        assert_eq!(DistFlags::EMPTY.to_string(), "none");
        assert_eq!(
            format!("{:?}", DistFlags::PUBLISHED),
            "DistFlags(0x1: PUBLISHED)"
        );
    }

    #[test]
    fn every_named_flag_is_a_single_distinct_bit() {
        let mut seen = 0u64;
        for (bit, _) in FLAG_NAMES {
            assert_eq!(bit.count_ones(), 1);
            assert_eq!(seen & bit, 0);
            seen |= bit;
        }
    }
}
