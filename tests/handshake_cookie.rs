//! Cookie files by OTP's rules (auth.erl), in private temporary directories.
//! HOME and XDG_CONFIG_HOME are passed explicitly; the process environment is
//! never changed, so these tests run in parallel.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use erlnode::cookie::{
    Cookie, CookieError, CookieLocations, CookieSource, GENERATED_COOKIE_LEN, read_cookie_file,
    resolve_cookie,
};

/// A directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "erlnode-cookie-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn write(path: &Path, content: &[u8], mode: u32) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn home_only(d: &TempDir) -> CookieLocations {
    CookieLocations {
        home: Some(d.path().to_path_buf()),
        xdg_config_home: None,
    }
}

#[test]
fn explicit_cookie_wins_over_files() {
    let d = TempDir::new();
    write(&d.path().join(".erlang.cookie"), b"FROMFILE", 0o400);
    let (c, src) = resolve_cookie(Some(Cookie::new("explicit").unwrap()), &home_only(&d)).unwrap();
    assert_eq!(c.expose(), b"explicit");
    assert_eq!(src, CookieSource::Explicit);
}

#[test]
fn home_file_is_read_first() {
    let d = TempDir::new();
    let home = d.path().join(".erlang.cookie");
    write(&home, b"HOMECOOKIE\n", 0o400);
    write(
        &d.path().join(".config/erlang/.erlang.cookie"),
        b"XDGCOOKIE",
        0o400,
    );
    let (c, src) = resolve_cookie(None, &home_only(&d)).unwrap();
    assert_eq!(c.expose(), b"HOMECOOKIE");
    assert_eq!(src, CookieSource::File(home));
}

#[test]
fn xdg_file_is_used_when_home_has_none() {
    let d = TempDir::new();
    let xdg = d.path().join("xdg");
    let f = xdg.join("erlang/.erlang.cookie");
    write(&f, b"XDGCOOKIE", 0o600);
    let loc = CookieLocations {
        home: Some(d.path().join("home")),
        xdg_config_home: Some(xdg),
    };
    std::fs::create_dir_all(d.path().join("home")).unwrap();
    let (c, src) = resolve_cookie(None, &loc).unwrap();
    assert_eq!(c.expose(), b"XDGCOOKIE");
    assert_eq!(src, CookieSource::File(f));
    // Without XDG_CONFIG_HOME the XDG file is $HOME/.config/erlang/.erlang.cookie.
    let d2 = TempDir::new();
    let f2 = d2.path().join(".config/erlang/.erlang.cookie");
    write(&f2, b"DOTCONFIG", 0o400);
    let (c, _) = resolve_cookie(None, &home_only(&d2)).unwrap();
    assert_eq!(c.expose(), b"DOTCONFIG");
}

#[test]
fn missing_cookie_creates_the_home_file_with_mode_0400() {
    let d = TempDir::new();
    let (c, src) = resolve_cookie(None, &home_only(&d)).unwrap();
    let home = d.path().join(".erlang.cookie");
    assert_eq!(src, CookieSource::Created(home.clone()));
    assert_eq!(c.len(), GENERATED_COOKIE_LEN);
    assert!(c.expose().iter().all(u8::is_ascii_uppercase));
    let meta = std::fs::metadata(&home).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o400);
    assert_eq!(std::fs::read(&home).unwrap(), c.expose());
    // Next time the same cookie is read back.
    let (again, src) = resolve_cookie(None, &home_only(&d)).unwrap();
    assert_eq!(again, c);
    assert_eq!(src, CookieSource::File(home));
}

#[test]
fn without_home_the_xdg_file_is_created() {
    let d = TempDir::new();
    let dir = d.path().join("erlang");
    std::fs::create_dir_all(&dir).unwrap();
    let loc = CookieLocations {
        home: None,
        xdg_config_home: Some(d.path().to_path_buf()),
    };
    let (_, src) = resolve_cookie(None, &loc).unwrap();
    assert_eq!(src, CookieSource::Created(dir.join(".erlang.cookie")));
    let e = resolve_cookie(None, &CookieLocations::default()).unwrap_err();
    assert!(matches!(e, CookieError::NoHome));
    assert!(e.to_string().starts_with("No home for cookie file"));
}

#[test]
fn group_or_world_access_is_refused_with_otps_message() {
    for mode in [0o640, 0o604, 0o644, 0o410, 0o401] {
        let d = TempDir::new();
        let f = d.path().join(".erlang.cookie");
        write(&f, b"SECRETVALUE", mode);
        let e = resolve_cookie(None, &home_only(&d)).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, CookieError::Permissions { .. }), "{mode:o}");
        assert!(
            msg.starts_with(&format!(
                "Cookie file {} must be accessible by owner only",
                f.display()
            )),
            "{msg}"
        );
        assert!(msg.contains(&format!("chmod 400 {}", f.display())), "{msg}");
        assert!(!msg.contains("SECRETVALUE"));
    }
    for mode in [0o400, 0o600, 0o700] {
        let d = TempDir::new();
        write(&d.path().join(".erlang.cookie"), b"OK", mode);
        assert!(resolve_cookie(None, &home_only(&d)).is_ok(), "{mode:o}");
    }
}

#[test]
fn a_directory_is_not_a_cookie_file() {
    let d = TempDir::new();
    std::fs::create_dir_all(d.path().join(".erlang.cookie")).unwrap();
    let e = resolve_cookie(None, &home_only(&d)).unwrap_err();
    assert!(matches!(
        e,
        CookieError::NotRegular {
            kind: "directory",
            ..
        }
    ));
    assert!(e.to_string().contains("is of type directory"), "{e}");
}

#[test]
fn content_errors_are_otps() {
    let d = TempDir::new();
    let f = d.path().join(".erlang.cookie");
    write(&f, b"", 0o400);
    let e = read_cookie_file(&f).unwrap_err();
    assert!(e.to_string().starts_with("Too short cookie string"), "{e}");
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::write(&f, b"ONE\nTWO\n").unwrap();
    let e = read_cookie_file(&f).unwrap_err();
    assert!(e.to_string().starts_with("Bad characters in cookie"), "{e}");
    assert!(!e.to_string().contains("ONE"));
    std::fs::write(&f, b"with spaces  \r\n\n  ").unwrap();
    assert_eq!(
        read_cookie_file(&f).unwrap().unwrap().expose(),
        b"with spaces  "
    );
    assert!(
        read_cookie_file(&d.path().join("absent"))
            .unwrap()
            .is_none()
    );
}

#[test]
fn an_existing_bad_home_file_does_not_fall_through_to_xdg() {
    // auth.erl only moves on to the XDG file when the home file does not exist.
    let d = TempDir::new();
    write(&d.path().join(".erlang.cookie"), b"X", 0o644);
    write(
        &d.path().join(".config/erlang/.erlang.cookie"),
        b"GOOD",
        0o400,
    );
    assert!(matches!(
        resolve_cookie(None, &home_only(&d)),
        Err(CookieError::Permissions { .. })
    ));
}
