//! Node names (`alive@host`) and OTP's short/long name rules.
//!
//! PROTOCOL.md §7 items 6 and 7. A name travels in the handshake as Latin-1
//! bytes (`atom_to_binary(Node, latin1)`) and in EPMD as UTF-8, so erlnode keeps
//! node names ASCII. The peer side of the handshake only requires one `@` with
//! non-empty parts (`dist_util:is_name_ok/2`); names erlnode gives itself follow
//! the stricter rule of `net_kernel:valid_name_head/1`.

#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// The longest node name: an atom holds at most 255 characters, and EPMD's
/// MAXSYMLEN is 255 too.
pub const MAX_NODE_NAME_LEN: usize = 255;

/// A node name `alive@host`: ASCII, exactly one `@`, both parts non-empty,
/// at most [`MAX_NODE_NAME_LEN`] bytes, no spaces or control characters.
///
/// Ordering is byte order, which for ASCII names is Erlang's atom order (used by
/// the simultaneous-connect tie-break, [`crate::handshake::simultaneous_status`]).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeName {
    text: String,
    at: usize,
}

/// Why a node name is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// No `@` in the name.
    #[error("node name {name:?} is illegal: no '@' character; write it as NAME@HOST")]
    NoAt {
        /// The offending name.
        name: String,
    },
    /// More than one `@`.
    #[error("node name {name:?} is illegal: more than one '@'; write it as NAME@HOST")]
    ManyAt {
        /// The offending name.
        name: String,
    },
    /// Empty part before the `@`.
    #[error("node name {name:?} is illegal: the part before '@' is empty")]
    EmptyAlive {
        /// The offending name.
        name: String,
    },
    /// Empty part after the `@`.
    #[error("node name {name:?} is illegal: the host part after '@' is empty")]
    EmptyHost {
        /// The offending name.
        name: String,
    },
    /// A byte outside printable ASCII (or a space).
    #[error(
        "node name {name:?} is illegal: byte {byte:#04x} at offset {offset}; \
         node names must be printable ASCII without spaces"
    )]
    BadChar {
        /// The offending name (non-ASCII bytes shown lossily).
        name: String,
        /// The first bad byte.
        byte: u8,
        /// Where it is.
        offset: usize,
    },
    /// Longer than [`MAX_NODE_NAME_LEN`].
    #[error("node name is {len} bytes long; at most {max} are allowed (atom and EPMD limit)")]
    TooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A name part for this node that a BEAM would refuse.
    #[error(
        "node name part {alive:?} is illegal: a node's own name may only use \
         letters, digits, '_' and '-' (net_kernel:valid_name_head/1)"
    )]
    BadAlive {
        /// The name part.
        alive: String,
    },
    /// A short name whose host has dots.
    #[error(
        "can't set short node name {name:?}: the host {host:?} has dots; \
         use --name for fully qualified hosts or IP addresses"
    )]
    ShortWithDots {
        /// The name.
        name: String,
        /// Its host.
        host: String,
    },
    /// A long name whose host is neither qualified nor an IP address.
    #[error(
        "can't set long node name {name:?}: the host {host:?} is not fully qualified \
         and not an IP address; give NAME@HOST.DOMAIN or NAME@IP, or use --sname"
    )]
    LongWithoutDots {
        /// The name.
        name: String,
        /// Its host.
        host: String,
    },
}

/// Why this node will not dial a peer (`inet_tcp_dist:splitnode/3`, checked
/// only by the side that dials).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DialError {
    /// This node uses short names and the peer's host has dots.
    #[error(
        "** System NOT running to use fully qualified hostnames ** Hostname {host} is illegal: \
         this node uses short names (--sname) and cannot dial {node}; \
         run every node of the cluster with --name, or dial a short host name"
    )]
    NotShortnames {
        /// The peer.
        node: String,
        /// Its host.
        host: String,
    },
    /// This node uses long names and the peer's host is neither qualified nor an IP.
    #[error(
        "** System running to use fully qualified hostnames ** Hostname {host} is illegal: \
         this node uses long names (--name) and cannot dial {node}; \
         run every node of the cluster with --sname, or dial a fully qualified host or an IP"
    )]
    NotLongnames {
        /// The peer.
        node: String,
        /// Its host.
        host: String,
    },
}

impl NodeName {
    /// Parses a peer's name with the handshake's rules (see the type docs).
    pub fn parse(text: &str) -> Result<NodeName, NameError> {
        NodeName::from_bytes(text.as_bytes())
    }

    /// Parses a name received on the wire.
    pub fn from_bytes(bytes: &[u8]) -> Result<NodeName, NameError> {
        let lossy = || String::from_utf8_lossy(bytes).into_owned();
        if bytes.len() > MAX_NODE_NAME_LEN {
            return Err(NameError::TooLong {
                len: bytes.len(),
                max: MAX_NODE_NAME_LEN,
            });
        }
        if let Some(offset) = bytes.iter().position(|b| !b.is_ascii_graphic()) {
            return Err(NameError::BadChar {
                name: lossy(),
                byte: bytes.get(offset).copied().unwrap_or(0),
                offset,
            });
        }
        let mut ats = bytes.iter().enumerate().filter(|(_, b)| **b == b'@');
        let Some((at, _)) = ats.next() else {
            return Err(NameError::NoAt { name: lossy() });
        };
        if ats.next().is_some() {
            return Err(NameError::ManyAt { name: lossy() });
        }
        if at == 0 {
            return Err(NameError::EmptyAlive { name: lossy() });
        }
        if at + 1 == bytes.len() {
            return Err(NameError::EmptyHost { name: lossy() });
        }
        // All bytes are ASCII graphic, so this is valid UTF-8.
        let text = String::from_utf8_lossy(bytes).into_owned();
        Ok(NodeName { text, at })
    }

    /// Builds `alive@host` from its parts, with the peer rules.
    pub fn new(alive: &str, host: &str) -> Result<NodeName, NameError> {
        NodeName::parse(&format!("{alive}@{host}"))
    }

    /// The name for `--sname ARG` (`erl -sname`): `ARG@SHORTHOST` when ARG has
    /// no host, where SHORTHOST is [`short_hostname`]. The host must have no
    /// dots and the name part must pass `net_kernel:valid_name_head/1`.
    pub fn for_sname(arg: &str) -> Result<NodeName, NameError> {
        let name = if arg.contains('@') {
            NodeName::parse(arg)?
        } else {
            NodeName::new(arg, &short_hostname())?
        };
        name.check_own_alive()?;
        if name.host().contains('.') {
            return Err(NameError::ShortWithDots {
                name: name.text.clone(),
                host: name.host().to_string(),
            });
        }
        Ok(name)
    }

    /// The name for `--name ARG` (`erl -name`): ARG must be `NAME@HOST` with a
    /// fully qualified host or an IP address (when ARG has no host, the
    /// machine's hostname is used if it is fully qualified).
    pub fn for_name(arg: &str) -> Result<NodeName, NameError> {
        let name = if arg.contains('@') {
            NodeName::parse(arg)?
        } else {
            NodeName::new(arg, &hostname())?
        };
        name.check_own_alive()?;
        let host = name.host();
        if !host.contains('.') && host.parse::<IpAddr>().is_err() {
            return Err(NameError::LongWithoutDots {
                name: name.text.clone(),
                host: host.to_string(),
            });
        }
        Ok(name)
    }

    /// Checks the name part with the rule a BEAM applies to its own name
    /// (`[0-9A-Za-z_-]+`).
    pub fn check_own_alive(&self) -> Result<(), NameError> {
        if self
            .alive()
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            Ok(())
        } else {
            Err(NameError::BadAlive {
                alive: self.alive().to_string(),
            })
        }
    }

    /// The part before `@` (what EPMD registers).
    pub fn alive(&self) -> &str {
        self.text.get(..self.at).unwrap_or("")
    }

    /// The part after `@`.
    pub fn host(&self) -> &str {
        self.text.get(self.at + 1..).unwrap_or("")
    }

    /// The whole name.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The whole name as bytes (what the handshake sends).
    pub fn as_bytes(&self) -> &[u8] {
        self.text.as_bytes()
    }

    /// True if the host has a dot (a "long" name in OTP's sense).
    pub fn is_long(&self) -> bool {
        self.host().contains('.')
    }

    /// Whether a node using long names (`from_long`) or short names may dial
    /// this node, by the rules of `inet_tcp_dist:splitnode/3`: a short-named
    /// node refuses a host with dots (including `127.0.0.1`); a long-named node
    /// refuses a dotless host unless it is an IP address (`::1`).
    pub fn check_dialable(&self, from_long: bool) -> Result<(), DialError> {
        let host = self.host();
        let dotted = host.contains('.');
        if from_long && !dotted && host.parse::<IpAddr>().is_err() {
            return Err(DialError::NotLongnames {
                node: self.text.clone(),
                host: host.to_string(),
            });
        }
        if !from_long && dotted {
            return Err(DialError::NotShortnames {
                node: self.text.clone(),
                host: host.to_string(),
            });
        }
        Ok(())
    }
}

impl fmt::Display for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeName({})", self.text)
    }
}

impl FromStr for NodeName {
    type Err = NameError;
    fn from_str(s: &str) -> Result<NodeName, NameError> {
        NodeName::parse(s)
    }
}

impl AsRef<str> for NodeName {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

/// Where Linux exposes the kernel's hostname (what `gethostname(2)` returns).
const PROC_HOSTNAME: &str = "/proc/sys/kernel/hostname";

/// The machine's hostname as `gethostname(2)` gives it, read from
/// `/proc/sys/kernel/hostname`, then `/etc/hostname`, then `$HOSTNAME`;
/// `localhost` if none is available.
pub fn hostname() -> String {
    let from_file = |p: &str| {
        std::fs::read_to_string(p)
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    };
    from_file(PROC_HOSTNAME)
        .or_else(|| from_file("/etc/hostname"))
        .or_else(|| {
            std::env::var("HOSTNAME")
                .ok()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
        })
        .unwrap_or_else(|| "localhost".to_string())
}

/// The host part `erl -sname` uses: [`hostname`] up to its first dot.
pub fn short_hostname() -> String {
    let h = hostname();
    match h.split('.').next() {
        Some(s) if !s.is_empty() => s.to_string(),
        _ => "localhost".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_splits() {
        let n = NodeName::parse("rust@vm").unwrap();
        assert_eq!(n.alive(), "rust");
        assert_eq!(n.host(), "vm");
        assert_eq!(n.to_string(), "rust@vm");
        assert!(!n.is_long());
        assert!(NodeName::parse("a@b.c").unwrap().is_long());
    }

    #[test]
    fn rejects_bad_names() {
        assert!(matches!(
            NodeName::parse("novm"),
            Err(NameError::NoAt { .. })
        ));
        assert!(matches!(
            NodeName::parse("a@b@c"),
            Err(NameError::ManyAt { .. })
        ));
        assert!(matches!(
            NodeName::parse("@vm"),
            Err(NameError::EmptyAlive { .. })
        ));
        assert!(matches!(
            NodeName::parse("a@"),
            Err(NameError::EmptyHost { .. })
        ));
        assert!(matches!(
            NodeName::parse("a b@vm"),
            Err(NameError::BadChar { byte: b' ', .. })
        ));
        assert!(matches!(
            NodeName::from_bytes(b"\xe9@vm"),
            Err(NameError::BadChar { byte: 0xe9, .. })
        ));
        let long = format!("{}@h", "a".repeat(254));
        assert!(matches!(
            NodeName::parse(&long),
            Err(NameError::TooLong { len: 256, .. })
        ));
        let ok = format!("{}@h", "a".repeat(253));
        assert!(NodeName::parse(&ok).is_ok());
    }

    #[test]
    fn own_name_rules() {
        assert!(NodeName::for_sname("rust@vm").is_ok());
        assert!(matches!(
            NodeName::for_sname("ru.st@vm"),
            Err(NameError::BadAlive { .. })
        ));
        assert!(matches!(
            NodeName::for_sname("rust@vm.example.org"),
            Err(NameError::ShortWithDots { .. })
        ));
        let s = NodeName::for_sname("rust").unwrap();
        assert_eq!(s.host(), short_hostname());
        assert!(!s.host().contains('.'));
        assert!(NodeName::for_name("rust@127.0.0.1").is_ok());
        assert!(NodeName::for_name("rust@::1").is_ok());
        assert!(NodeName::for_name("rust@host.example.org").is_ok());
        assert!(matches!(
            NodeName::for_name("rust@vm"),
            Err(NameError::LongWithoutDots { .. })
        ));
    }

    #[test]
    fn dial_rules_follow_splitnode() {
        let short = NodeName::parse("a@vm").unwrap();
        let dotted = NodeName::parse("a@127.0.0.1").unwrap();
        let fqdn = NodeName::parse("a@vm.example.org").unwrap();
        let v6 = NodeName::parse("a@::1").unwrap();
        assert!(short.check_dialable(false).is_ok());
        let e = dotted.check_dialable(false).unwrap_err();
        assert!(matches!(e, DialError::NotShortnames { .. }));
        assert!(
            e.to_string()
                .contains("System NOT running to use fully qualified hostnames")
        );
        assert!(fqdn.check_dialable(false).is_err());
        assert!(dotted.check_dialable(true).is_ok());
        assert!(fqdn.check_dialable(true).is_ok());
        assert!(v6.check_dialable(true).is_ok());
        let e = short.check_dialable(true).unwrap_err();
        assert!(matches!(e, DialError::NotLongnames { .. }));
        assert!(
            e.to_string()
                .contains("System running to use fully qualified hostnames")
        );
    }

    #[test]
    fn order_is_byte_order() {
        let a = NodeName::parse("a@vm").unwrap();
        let b = NodeName::parse("b@vm").unwrap();
        let big = NodeName::parse("B@vm").unwrap();
        assert!(a < b);
        assert!(big < a);
    }

    #[test]
    fn short_hostname_has_no_dot() {
        let h = short_hostname();
        assert!(!h.is_empty());
        assert!(!h.contains('.'));
        assert!(hostname().starts_with(&h));
    }
}
