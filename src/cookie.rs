//! Magic cookies, by OTP's rules (`lib/kernel/src/auth.erl`, PROTOCOL.md §7 item 17).
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]
//!
//! * An explicit cookie (`--cookie`, like `-setcookie`) wins.
//! * Otherwise `$HOME/.erlang.cookie`, then `$XDG_CONFIG_HOME/erlang/.erlang.cookie`
//!   (`filename:basedir(user_config, "erlang")`, i.e. `$HOME/.config/erlang` when
//!   `XDG_CONFIG_HOME` is unset). If neither exists, `$HOME/.erlang.cookie` is
//!   created with 20 random letters `A`–`Z` and mode 0400 (the XDG file when
//!   there is no home).
//! * A cookie file must be a regular file that only its owner can access
//!   (`mode & 0o077 == 0`). Its content is printable ASCII (bytes 32..=126)
//!   up to the first other byte; after that only `\n`, `\r` and spaces may
//!   follow. Spaces before the newline belong to the cookie.
//! * Per-peer cookies ([`CookieJar`]): `-setcookie Node Cookie` and
//!   `erlang:set_cookie/2`. The side that dials uses the cookie set for the
//!   node it dials; the side that accepts uses the cookie set for the node named
//!   in the peer's send_name (`auth:get_cookie(Node)` in `dist_util`).
//!
//! A [`Cookie`] never shows its value in `Debug` or `Display` output, so it cannot
//! leak into logs or error messages.

use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use rand::Rng;

use crate::name::NodeName;

/// The longest cookie: it is an atom in the BEAM, and atoms hold at most 255
/// characters (`list_to_atom/1` fails with `system_limit` beyond).
pub const MAX_COOKIE_LEN: usize = 255;

/// Length of a generated cookie (`auth:create_cookie/1` writes 20 letters).
pub const GENERATED_COOKIE_LEN: usize = 20;

/// The cookie file's name, in `$HOME` or in the XDG config directory.
pub const COOKIE_FILE_NAME: &str = ".erlang.cookie";

/// Permission bits of a new cookie file (`auth:make_info/1` sets 8#400).
pub const NEW_COOKIE_FILE_MODE: u32 = 0o400;

/// Group and other permission bits; a cookie file must have none of them
/// (`auth:check_attributes/4`).
pub const COOKIE_FILE_FORBIDDEN_MODE: u32 = 0o077;

/// A distribution cookie (the shared secret of the handshake digest).
///
/// Stored as Latin-1 bytes, which is how `atom_to_list(Cookie)` feeds the
/// digest. `Debug` and `Display` print `Cookie(<redacted>)`.
#[derive(Clone)]
pub struct Cookie(Box<[u8]>);

impl Cookie {
    /// A cookie from text, like `-setcookie TEXT`: 1 to [`MAX_COOKIE_LEN`]
    /// characters, each in Latin-1 (U+0000..=U+00FF).
    pub fn new(text: &str) -> Result<Cookie, CookieError> {
        let mut bytes = Vec::with_capacity(text.len());
        for c in text.chars() {
            match u8::try_from(u32::from(c)) {
                Ok(b) => bytes.push(b),
                Err(_) => return Err(CookieError::NotLatin1),
            }
        }
        Cookie::from_bytes(&bytes)
    }

    /// A cookie from raw Latin-1 bytes (1 to [`MAX_COOKIE_LEN`]).
    pub fn from_bytes(bytes: &[u8]) -> Result<Cookie, CookieError> {
        if bytes.is_empty() {
            return Err(CookieError::Empty);
        }
        if bytes.len() > MAX_COOKIE_LEN {
            return Err(CookieError::TooLong {
                path: None,
                len: bytes.len(),
            });
        }
        Ok(Cookie(bytes.into()))
    }

    /// A fresh random cookie of [`GENERATED_COOKIE_LEN`] letters `A`–`Z`
    /// (like `auth:create_cookie/1`, but from a CSPRNG).
    pub fn generate() -> Cookie {
        let mut rng = rand::rngs::OsRng;
        let bytes: Vec<u8> = (0..GENERATED_COOKIE_LEN)
            .map(|_| b'A' + rng.gen_range(0..26u8))
            .collect();
        Cookie(bytes.into())
    }

    /// The secret bytes. Only the digest and the user's own tools should see them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always false: a cookie has at least one byte.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl PartialEq for Cookie {
    /// Constant-time for equal lengths.
    fn eq(&self, other: &Cookie) -> bool {
        self.0.len() == other.0.len()
            && self
                .0
                .iter()
                .zip(other.0.iter())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

impl Eq for Cookie {}

impl fmt::Debug for Cookie {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Cookie(<redacted>)")
    }
}

impl fmt::Display for Cookie {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Cookie(<redacted>)")
    }
}

/// Why no usable cookie was found. Messages start like OTP's and say what to do;
/// none of them contains the cookie.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CookieError {
    /// An explicit cookie was empty.
    #[error("Too short cookie string: the cookie is empty; pass a non-empty --cookie")]
    Empty,
    /// An explicit cookie had characters the BEAM cannot use.
    #[error(
        "the cookie has characters outside Latin-1, which the BEAM cannot use in a cookie; \
         pick an ASCII cookie"
    )]
    NotLatin1,
    /// Longer than [`MAX_COOKIE_LEN`].
    #[error(
        "the cookie{} is {len} characters long; a BEAM cookie is an atom of at most {MAX_COOKIE_LEN}; \
         use a shorter cookie",
        .path.as_ref().map(|p| format!(" in {}", p.display())).unwrap_or_default()
    )]
    TooLong {
        /// The file it came from, if any.
        path: Option<PathBuf>,
        /// Its length.
        len: usize,
    },
    /// The cookie file is not a regular file.
    #[error("Cookie file {} is of type {kind}; it must be a regular file: remove it or point HOME elsewhere", .path.display())]
    NotRegular {
        /// The file.
        path: PathBuf,
        /// What it is instead (`directory`, `symlink`, `other`...).
        kind: &'static str,
    },
    /// Group or others can access the cookie file.
    #[error(
        "Cookie file {} must be accessible by owner only (mode is {mode:04o}): chmod 400 {}",
        .path.display(), .path.display()
    )]
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The file has non-printable bytes inside the cookie, or text after it.
    #[error(
        "Bad characters in cookie in {}: it must be one line of printable ASCII, \
         optionally followed by newlines, carriage returns and spaces; fix the file",
        .path.display()
    )]
    BadCharacters {
        /// The file.
        path: PathBuf,
    },
    /// The file holds no cookie.
    #[error("Too short cookie string in {}: the file is empty; write a cookie into it or pass --cookie", .path.display())]
    TooShort {
        /// The file.
        path: PathBuf,
    },
    /// Reading the file failed.
    #[error("Error when reading {}: {source}; check the file or pass --cookie", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
    /// Creating a new cookie file failed.
    #[error("Failed to create cookie file '{}': {source}; create it yourself (mode 0400) or pass --cookie", .path.display())]
    Create {
        /// The file.
        path: PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
    /// Neither HOME nor XDG_CONFIG_HOME is known.
    #[error("No home for cookie file: set HOME (or XDG_CONFIG_HOME), or pass --cookie")]
    NoHome,
}

/// Where to look for cookie files. [`CookieLocations::from_env`] reads the
/// environment; tests build one explicitly instead of changing the process
/// environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CookieLocations {
    /// `$HOME`.
    pub home: Option<PathBuf>,
    /// `$XDG_CONFIG_HOME`.
    pub xdg_config_home: Option<PathBuf>,
}

impl CookieLocations {
    /// From `HOME` and `XDG_CONFIG_HOME` (empty values count as unset).
    pub fn from_env() -> CookieLocations {
        let var = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        CookieLocations {
            home: var("HOME"),
            xdg_config_home: var("XDG_CONFIG_HOME"),
        }
    }

    /// `$HOME/.erlang.cookie`.
    pub fn home_file(&self) -> Option<PathBuf> {
        self.home.as_ref().map(|h| h.join(COOKIE_FILE_NAME))
    }

    /// `filename:basedir(user_config, "erlang")/.erlang.cookie`:
    /// `$XDG_CONFIG_HOME/erlang/.erlang.cookie`, or
    /// `$HOME/.config/erlang/.erlang.cookie` when XDG_CONFIG_HOME is unset.
    pub fn xdg_file(&self) -> Option<PathBuf> {
        let base = match (&self.xdg_config_home, &self.home) {
            (Some(x), _) => x.clone(),
            (None, Some(h)) => h.join(".config"),
            (None, None) => return None,
        };
        Some(base.join("erlang").join(COOKIE_FILE_NAME))
    }
}

/// Where the default cookie came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CookieSource {
    /// Given explicitly (`--cookie`).
    Explicit,
    /// Read from this file.
    File(PathBuf),
    /// Created in this file because no cookie file existed.
    Created(PathBuf),
}

/// The default cookie, by OTP's lookup order: `explicit`, then the home file,
/// then the XDG file, else a new home file (see the module docs).
pub fn resolve_cookie(
    explicit: Option<Cookie>,
    loc: &CookieLocations,
) -> Result<(Cookie, CookieSource), CookieError> {
    if let Some(c) = explicit {
        return Ok((c, CookieSource::Explicit));
    }
    let home = loc.home_file();
    let xdg = loc.xdg_file();
    for path in home.iter().chain(xdg.iter()) {
        if let Some(c) = read_cookie_file(path)? {
            return Ok((c, CookieSource::File(path.clone())));
        }
    }
    let target = home.or(xdg).ok_or(CookieError::NoHome)?;
    create_cookie_file(&target)?;
    match read_cookie_file(&target)? {
        Some(c) => Ok((c, CookieSource::Created(target))),
        None => Err(CookieError::Read {
            path: target,
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "the cookie file vanished right after it was created",
            ),
        }),
    }
}

/// Reads a cookie file with OTP's checks. `Ok(None)` if it does not exist.
pub fn read_cookie_file(path: &Path) -> Result<Option<Cookie>, CookieError> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(CookieError::Read {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    if !meta.is_file() {
        let kind = if meta.is_dir() { "directory" } else { "other" };
        return Err(CookieError::NotRegular {
            path: path.to_path_buf(),
            kind,
        });
    }
    check_mode(path, &meta)?;
    let bytes = std::fs::read(path).map_err(|source| CookieError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_cookie_file(&bytes, path).map(Some)
}

#[cfg(unix)]
fn check_mode(path: &Path, meta: &std::fs::Metadata) -> Result<(), CookieError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & COOKIE_FILE_FORBIDDEN_MODE != 0 {
        return Err(CookieError::Permissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_mode(_path: &Path, _meta: &std::fs::Metadata) -> Result<(), CookieError> {
    // auth:check_attributes/4 checks the mode only on Unix.
    Ok(())
}

/// Applies `auth:check_cookie/2` to a cookie file's content.
pub fn parse_cookie_file(bytes: &[u8], path: &Path) -> Result<Cookie, CookieError> {
    let end = bytes
        .iter()
        .position(|b| !(b' '..=b'~').contains(b))
        .unwrap_or(bytes.len());
    let (cookie, rest) = bytes.split_at(end);
    if !rest.iter().all(|b| matches!(b, b'\n' | b'\r' | b' ')) {
        return Err(CookieError::BadCharacters {
            path: path.to_path_buf(),
        });
    }
    if cookie.is_empty() {
        return Err(CookieError::TooShort {
            path: path.to_path_buf(),
        });
    }
    if cookie.len() > MAX_COOKIE_LEN {
        return Err(CookieError::TooLong {
            path: Some(path.to_path_buf()),
            len: cookie.len(),
        });
    }
    Ok(Cookie(cookie.into()))
}

/// Creates a new cookie file holding [`Cookie::generate`], with mode 0400 from
/// the start (no window where others could read it). Fails if it exists.
pub fn create_cookie_file(path: &Path) -> Result<(), CookieError> {
    let err = |source| CookieError::Create {
        path: path.to_path_buf(),
        source,
    };
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(NEW_COOKIE_FILE_MODE);
    }
    let mut f = opts.open(path).map_err(err)?;
    f.write_all(Cookie::generate().expose()).map_err(err)?;
    f.sync_all().map_err(err)
}

/// The cookies a node uses: a default one and per-node overrides.
///
/// Equivalent to `-setcookie Cookie`, `-setcookie Node Cookie` and
/// `erlang:set_cookie/1,2`. Ask [`CookieJar::cookie_for`] with the peer's name:
/// the dialled node when initiating, the node named in send_name when accepting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieJar {
    default: Cookie,
    per_node: HashMap<NodeName, Cookie>,
}

impl CookieJar {
    /// A jar whose cookie for every node is `default`.
    pub fn new(default: Cookie) -> CookieJar {
        CookieJar {
            default,
            per_node: HashMap::new(),
        }
    }

    /// Adds command-line style per-node cookies (`-setcookie Node Cookie`).
    /// As in `auth:init_setcookie/3`, a node given more than once gets no
    /// override at all.
    pub fn with_node_cookies(
        mut self,
        pairs: impl IntoIterator<Item = (NodeName, Cookie)>,
    ) -> Self {
        let mut seen: HashMap<NodeName, Option<Cookie>> = HashMap::new();
        for (node, cookie) in pairs {
            seen.entry(node)
                .and_modify(|c| *c = None)
                .or_insert(Some(cookie));
        }
        for (node, cookie) in seen {
            if let Some(c) = cookie {
                self.per_node.insert(node, c);
            }
        }
        self
    }

    /// Sets the default cookie (`erlang:set_cookie/1`).
    pub fn set_default(&mut self, cookie: Cookie) {
        self.default = cookie;
    }

    /// Sets the cookie for one node (`erlang:set_cookie(Node, Cookie)`).
    pub fn set_cookie(&mut self, node: NodeName, cookie: Cookie) {
        self.per_node.insert(node, cookie);
    }

    /// Removes a node's override; it gets the default again.
    pub fn remove_cookie(&mut self, node: &NodeName) {
        self.per_node.remove(node);
    }

    /// The default cookie.
    pub fn default_cookie(&self) -> &Cookie {
        &self.default
    }

    /// The cookie to use with `node` (`auth:get_cookie(Node)`).
    pub fn cookie_for(&self, node: &NodeName) -> &Cookie {
        self.per_node.get(node).unwrap_or(&self.default)
    }
}

impl From<Cookie> for CookieJar {
    fn from(c: Cookie) -> CookieJar {
        CookieJar::new(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_the_secret() {
        let c = Cookie::new("supersecret").unwrap();
        assert_eq!(format!("{c:?}"), "Cookie(<redacted>)");
        assert_eq!(format!("{c}"), "Cookie(<redacted>)");
        let jar = CookieJar::new(c.clone())
            .with_node_cookies([(NodeName::parse("a@b").unwrap(), c.clone())]);
        assert!(!format!("{jar:?}").contains("supersecret"));
    }

    #[test]
    fn explicit_cookie_rules() {
        assert!(matches!(Cookie::new(""), Err(CookieError::Empty)));
        assert!(matches!(Cookie::new("日本"), Err(CookieError::NotLatin1)));
        assert_eq!(Cookie::new("é").unwrap().expose(), &[0xe9]);
        assert!(Cookie::new(&"x".repeat(255)).is_ok());
        assert!(matches!(
            Cookie::new(&"x".repeat(256)),
            Err(CookieError::TooLong { len: 256, .. })
        ));
    }

    #[test]
    fn generated_cookie_is_20_capitals() {
        let c = Cookie::generate();
        assert_eq!(c.len(), GENERATED_COOKIE_LEN);
        assert!(c.expose().iter().all(|b| b.is_ascii_uppercase()));
        assert_ne!(c, Cookie::generate());
    }

    #[test]
    fn content_rules_follow_check_cookie() {
        let p = Path::new("/x/.erlang.cookie");
        let ok = |b: &[u8]| parse_cookie_file(b, p).unwrap().expose().to_vec();
        assert_eq!(ok(b"ABC"), b"ABC");
        assert_eq!(ok(b"ABC\n"), b"ABC");
        assert_eq!(ok(b"ABC\r\n  \n"), b"ABC");
        assert_eq!(ok(b"A B C \n"), b"A B C ");
        assert_eq!(ok(b"~!@ "), b"~!@ ");
        assert!(matches!(
            parse_cookie_file(b"ABC\nDEF", p),
            Err(CookieError::BadCharacters { .. })
        ));
        assert!(matches!(
            parse_cookie_file(b"AB\tC", p),
            Err(CookieError::BadCharacters { .. })
        ));
        assert!(matches!(
            parse_cookie_file(b"AB\x7f", p),
            Err(CookieError::BadCharacters { .. })
        ));
        assert!(matches!(
            parse_cookie_file(b"", p),
            Err(CookieError::TooShort { .. })
        ));
        assert!(matches!(
            parse_cookie_file(b"\n", p),
            Err(CookieError::TooShort { .. })
        ));
        let e = parse_cookie_file(b"", p).unwrap_err().to_string();
        assert!(e.starts_with("Too short cookie string"), "{e}");
        assert!(matches!(
            parse_cookie_file("x".repeat(256).as_bytes(), p),
            Err(CookieError::TooLong { len: 256, .. })
        ));
    }

    #[test]
    fn jar_picks_per_node_cookies() {
        let d = Cookie::new("default").unwrap();
        let x = Cookie::new("xcookie").unwrap();
        let y = Cookie::new("ycookie").unwrap();
        let a = NodeName::parse("a@h").unwrap();
        let b = NodeName::parse("b@h").unwrap();
        let c = NodeName::parse("c@h").unwrap();
        let mut jar = CookieJar::new(d.clone()).with_node_cookies([
            (a.clone(), x.clone()),
            (b.clone(), x.clone()),
            (b.clone(), y.clone()),
        ]);
        assert_eq!(jar.cookie_for(&a), &x);
        // Set twice on the command line: ignored, as auth.erl does.
        assert_eq!(jar.cookie_for(&b), &d);
        assert_eq!(jar.cookie_for(&c), &d);
        jar.set_cookie(c.clone(), y.clone());
        assert_eq!(jar.cookie_for(&c), &y);
        jar.remove_cookie(&c);
        assert_eq!(jar.cookie_for(&c), &d);
        jar.set_default(y.clone());
        assert_eq!(jar.default_cookie(), &y);
        assert_eq!(jar.cookie_for(&a), &x);
    }

    #[test]
    fn xdg_path_follows_basedir() {
        let loc = CookieLocations {
            home: Some("/h".into()),
            xdg_config_home: None,
        };
        assert_eq!(
            loc.xdg_file().unwrap(),
            PathBuf::from("/h/.config/erlang/.erlang.cookie")
        );
        assert_eq!(loc.home_file().unwrap(), PathBuf::from("/h/.erlang.cookie"));
        let loc = CookieLocations {
            home: Some("/h".into()),
            xdg_config_home: Some("/x".into()),
        };
        assert_eq!(
            loc.xdg_file().unwrap(),
            PathBuf::from("/x/erlang/.erlang.cookie")
        );
        assert_eq!(CookieLocations::default().xdg_file(), None);
    }
}
