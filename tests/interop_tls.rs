//! Issue 5 item 4 against real `erl -proto_dist inet_tls`: TLS distribution
//! both ways, a TLS cluster with erl on both sides of erlnode, untrusted
//! certificates refused with a clear log line on either side, long names on
//! an IP address, and the library API. Every certificate and key is made in
//! the test (rcgen, ECDSA P-256) in a private temporary directory.
mod common;
use common::*;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Time for a log line about a refused connection to appear.
const LOG_DEADLINE: Duration = Duration::from_secs(15);

/// A temporary directory of test certificates, removed on drop.
struct Pki {
    dir: PathBuf,
}

/// A CA: its parameters and key sign node certificates.
struct Ca {
    params: CertificateParams,
    key: KeyPair,
    pem_file: PathBuf,
}

/// One node's files: certificate, key, the CA file it trusts, and erl's optfile.
struct Creds {
    cert: PathBuf,
    key: PathBuf,
    cacert: PathBuf,
    optfile: PathBuf,
}

impl Pki {
    fn new() -> Pki {
        let dir = std::env::temp_dir().join(unique("erlnode-tls"));
        std::fs::create_dir_all(&dir).unwrap();
        Pki { dir }
    }

    fn ca(&self, name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, format!("erlnode test CA {name}"));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).unwrap();
        let pem_file = self.dir.join(format!("{name}-ca.pem"));
        std::fs::write(&pem_file, cert.pem()).unwrap();
        Ca {
            params,
            key,
            pem_file,
        }
    }

    /// A node certificate signed by `signer` naming this host (short name,
    /// localhost, and 127.0.0.1 both as IP and as DNS name, which OTP 25
    /// checks), usable as server and client, trusting the CAs in `trusted`.
    /// `erl_extra` goes into both optfile sections.
    fn node(&self, name: &str, signer: &Ca, trusted: &[&Ca], erl_extra: &str) -> Creds {
        let host = short_host();
        let names = [host.as_str(), "localhost", "127.0.0.1", "dns:127.0.0.1"];
        self.node_named(name, &names, signer, trusted, erl_extra)
    }

    /// As [`Pki::node`], naming `names`: DNS names, IP addresses (as `IP:`
    /// names), or `dns:ADDR` for an address spelled as a DNS name.
    fn node_named(
        &self,
        name: &str,
        names: &[&str],
        signer: &Ca,
        trusted: &[&Ca],
        erl_extra: &str,
    ) -> Creds {
        let key = KeyPair::generate().unwrap();
        let (as_dns, plain): (Vec<&str>, Vec<&str>) =
            names.iter().partition(|n| n.starts_with("dns:"));
        let mut params =
            CertificateParams::new(plain.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        for n in as_dns {
            let ia5 = rcgen::string::Ia5String::try_from(&n[4..]).unwrap();
            params.subject_alt_names.push(rcgen::SanType::DnsName(ia5));
        }
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let issuer = Issuer::from_params(&signer.params, &signer.key);
        let cert = params.signed_by(&key, &issuer).unwrap();
        let cert_file = self.dir.join(format!("{name}.pem"));
        let key_file = self.dir.join(format!("{name}-key.pem"));
        std::fs::write(&cert_file, cert.pem()).unwrap();
        write_private(&key_file, &key.serialize_pem());
        let cacert = self.dir.join(format!("{name}-trusts.pem"));
        let bundle: String = trusted
            .iter()
            .map(|ca| std::fs::read_to_string(&ca.pem_file).unwrap())
            .collect();
        std::fs::write(&cacert, bundle).unwrap();
        let optfile = self.dir.join(format!("{name}-dist.conf"));
        std::fs::write(
            &optfile,
            optfile_text(&cert_file, &key_file, &cacert, erl_extra),
        )
        .unwrap();
        Creds {
            cert: cert_file,
            key: key_file,
            cacert,
            optfile,
        }
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn write_private(path: &Path, text: &str) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

/// The `-ssl_dist_optfile` of docs/README-tls.md: the same files for both
/// roles, peers verified both ways.
fn optfile_text(cert: &Path, key: &Path, cacert: &Path, extra: &str) -> String {
    let common = format!(
        "{{certfile, {:?}}}, {{keyfile, {:?}}}, {{cacertfile, {:?}}}, {{verify, verify_peer}}{extra}",
        cert.display().to_string(),
        key.display().to_string(),
        cacert.display().to_string(),
    );
    format!("[{{server, [{common}, {{fail_if_no_peer_cert, true}}]}},\n {{client, [{common}]}}].\n")
}

impl Creds {
    /// `erlnode` flags.
    fn flags(&self) -> Vec<String> {
        vec![
            "--tls-cert".into(),
            self.cert.display().to_string(),
            "--tls-key".into(),
            self.key.display().to_string(),
            "--tls-cacert".into(),
            self.cacert.display().to_string(),
        ]
    }

    /// An erl node running TLS distribution with these files.
    fn erl(&self, prefix: &str, cookie: &str, epmd: u16) -> ErlOpts {
        let optfile = self.optfile.display().to_string();
        ErlOpts::new(prefix, cookie, epmd).args(&[
            "-proto_dist",
            "inet_tls",
            "-ssl_dist_optfile",
            &optfile,
        ])
    }
}

fn serve_tls(creds: &Creds, cookie: &str, epmd: u16, name_args: &[&str]) -> Serve {
    let flags = creds.flags();
    let mut args: Vec<&str> = name_args.to_vec();
    args.extend(["--cookie", cookie]);
    args.extend(flags.iter().map(String::as_str));
    // erlnode::tls logs the negotiated version and cipher suite at debug.
    Serve::start_env(&args, epmd, &[("RUST_LOG", "info,erlnode::tls=debug")])
}

/// `erlnode CMD NODE ... --cookie C --tls-*`.
fn cli(cmd: &[&str], creds: &Creds, cookie: &str, epmd: u16) -> (i32, String, String) {
    let flags = creds.flags();
    let mut args: Vec<&str> = cmd.to_vec();
    args.extend(["--cookie", cookie, "--timeout", "10"]);
    args.extend(flags.iter().map(String::as_str));
    erlnode_cmd(&args, epmd)
}

/// The `protocol` field of erl's `#net_address{}` for its connection to `node`.
fn dist_protocol(erl: &mut Erl, node: &str) -> String {
    erl.eval_ok(&format!(
        "{{ok, I}} = net_kernel:node_info('{node}'), element(4, proplists:get_value(address, I))"
    ))
}

#[test]
fn erl_and_erlnode_ping_each_other_over_tls_and_plain_tcp_is_refused() {
    let pki = Pki::new();
    let ca = pki.ca("main");
    let rs = pki.node("rs", &ca, &[&ca], "");
    let e = pki.node("e", &ca, &[&ca], "");
    let epmd = Epmd::start();
    let cookie = unique_cookie();
    let s = serve_tls(&rs, &cookie, epmd.port, &["--sname", &unique("rt")]);
    let mut erl = Erl::start(e.erl("e", &cookie, epmd.port));

    // erl → erlnode: EPMD lookup as with TCP, then TLS, then rpc over it.
    let alive = s.node.split('@').next().unwrap();
    assert!(
        erl.eval_ok("{ok, Ns} = net_adm:names(), [N || {N, _} <- Ns]")
            .contains(alive)
    );
    assert_eq!(erl.eval_ok(&format!("net_adm:ping('{}')", s.node)), "pong");
    assert_eq!(dist_protocol(&mut erl, &s.node), "tls");
    assert_eq!(
        erl.eval_ok(&format!(
            "rpc:call('{}', erlnode, sum, [[1, 2, 39]])",
            s.node
        )),
        "42"
    );
    // A big binary both ways: fragments, and on erlnode's side pieces
    // shared with the term, written through the TLS stream.
    assert_eq!(
        erl.eval_ok(&format!(
            "B = << <<(X rem 251)>> || X <- lists:seq(1, 3000000) >>, \
             {{echo, '{}'}} ! {{self(), {{big, B}}}}, \
             receive {{big, B2}} -> B2 =:= B after 30000 -> timeout end",
            s.node
        )),
        "true"
    );

    // erlnode's client command → erl.
    let (code, out, err) = cli(&["ping", &erl.node], &rs, &cookie, epmd.port);
    assert_eq!((code, out.trim()), (0, "pong"), "{err}");

    // A plain-TCP erl cannot talk to the TLS node, and the log says why.
    let mut plain = Erl::start(ErlOpts::new("plain", &cookie, epmd.port));
    assert_eq!(
        plain.eval_ok(&format!("net_adm:ping('{}')", s.node)),
        "pang"
    );
    s.wait_log("does not speak TLS", LOG_DEADLINE);
}

#[test]
fn tls_cluster_with_erl_on_both_sides_of_erlnode() {
    let pki = Pki::new();
    let ca = pki.ca("main");
    let rs = pki.node("rs", &ca, &[&ca], "");
    // One erl on OTP's dist default, the other on TLS 1.3 only: rustls
    // speaks both.
    let a_creds = pki.node("a", &ca, &[&ca], "");
    let b_creds = pki.node("b", &ca, &[&ca], ", {versions, ['tlsv1.3']}");
    let epmd = Epmd::start();
    let cookie = unique_cookie();
    let s = serve_tls(&rs, &cookie, epmd.port, &["--sname", &unique("rc")]);
    let mut a = Erl::start(a_creds.erl("a", &cookie, epmd.port));
    let mut b = Erl::start(b_creds.erl("b", &cookie, epmd.port));

    // A reaches erlnode; B has not talked to anyone yet.
    assert_eq!(a.eval_ok(&format!("net_adm:ping('{}')", s.node)), "pong");
    let b_pid = b.eval_ok("binary_to_list(base64:encode(term_to_binary(self())))");
    // A → erlnode's echo → B: erlnode dials B over TLS to deliver.
    a.eval_ok(&format!(
        "{{echo, '{}'}} ! {{binary_to_term(base64:decode({b_pid})), hello_from_a}}, ok",
        s.node
    ));
    assert_eq!(b.eval_ok("erlnode_ctl:recv(10000)"), "hello_from_a");
    assert_eq!(dist_protocol(&mut b, &s.node), "tls");
    // B → erlnode → A over the connection A opened.
    let a_pid = a.eval_ok("binary_to_list(base64:encode(term_to_binary(self())))");
    b.eval_ok(&format!(
        "{{echo, '{}'}} ! {{binary_to_term(base64:decode({a_pid})), hello_from_b}}, ok",
        s.node
    ));
    assert_eq!(a.eval_ok("erlnode_ctl:recv(10000)"), "hello_from_b");
    // rpc from both sides, and the two erl nodes never met: erlnode is
    // hidden, so it relays without joining them.
    for erl in [&mut a, &mut b] {
        assert_eq!(
            erl.eval_ok(&format!(
                "rpc:call('{}', erlnode, echo, [{{tls, ok}}])",
                s.node
            )),
            "{tls,ok}"
        );
    }
    assert_eq!(a.eval_ok("nodes()"), "[]");
    assert_eq!(b.eval_ok("nodes()"), "[]");
    // A negotiated OTP's default TLS 1.2 (erlnode accepting), B TLS 1.3
    // (erlnode dialling).
    s.wait_log("role=Server version=Some(TLSv1_2)", LOG_DEADLINE);
    s.wait_log("role=Client version=Some(TLSv1_3)", LOG_DEADLINE);
    // A spawn over TLS: erlnode's echo process answers A.
    assert_eq!(
        a.eval_ok(&format!(
            "P = spawn('{}', erlnode, echo, []), P ! {{self(), ping}}, erlnode_ctl:recv(10000)",
            s.node
        )),
        "ping"
    );
}

#[test]
fn erlnode_refuses_an_erl_whose_certificate_another_ca_signed() {
    let pki = Pki::new();
    let ca = pki.ca("main");
    let rogue = pki.ca("rogue");
    let rs = pki.node("rs", &ca, &[&ca], "");
    // The erl trusts erlnode's CA, but its own certificate is the rogue CA's.
    let bad = pki.node("bad", &rogue, &[&ca], "");
    let epmd = Epmd::start();
    let cookie = unique_cookie();
    let s = serve_tls(&rs, &cookie, epmd.port, &["--sname", &unique("rr")]);
    let mut erl = Erl::start(bad.erl("bad", &cookie, epmd.port));

    // Incoming: the log names the peer's address, the problem and the fix.
    assert_eq!(erl.eval_ok(&format!("net_adm:ping('{}')", s.node)), "pang");
    s.wait_log("TLS connection from ", LOG_DEADLINE);
    let line = s
        .log
        .lock()
        .unwrap()
        .iter()
        .find(|l| l.contains("TLS connection from"))
        .cloned()
        .unwrap();
    let ca_file = rs.cacert.display().to_string();
    assert!(line.contains("TLS connection from 127.0.0.1:"), "{line}");
    assert!(
        line.contains("refused: its certificate is not trusted")
            && line.contains(&format!("not signed by a CA in {ca_file}"))
            && line.contains("unknown issuer")
            && line.contains("--tls-cacert"),
        "{line}"
    );

    // Outgoing (the CLI dials the rogue erl): refused the same way.
    let (code, out, err) = cli(&["ping", &erl.node], &rs, &cookie, epmd.port);
    assert_eq!((code, out.trim()), (1, "pang"));
    assert!(
        err.contains(&format!("TLS connection to {}", erl.node))
            && err.contains("refused: its certificate is not trusted")
            && err.contains("unknown issuer"),
        "{err}"
    );
}

#[test]
fn erl_refuses_erlnode_with_an_untrusted_certificate() {
    let pki = Pki::new();
    let ca = pki.ca("main");
    let rogue = pki.ca("rogue");
    // erlnode trusts erl's CA, but its own certificate is the rogue CA's.
    let rs = pki.node("rs", &rogue, &[&ca], "");
    let e = pki.node("e", &ca, &[&ca], "");
    let epmd = Epmd::start();
    let cookie = unique_cookie();
    let s = serve_tls(&rs, &cookie, epmd.port, &["--sname", &unique("ru")]);
    let mut erl = Erl::start(e.erl("e", &cookie, epmd.port));

    // erl dials: it refuses erlnode's certificate; erlnode's log says so.
    assert_eq!(erl.eval_ok(&format!("net_adm:ping('{}')", s.node)), "pang");
    s.wait_log("it refused our certificate", LOG_DEADLINE);
    assert!(s.log_contains(&format!(
        "holds the CA that signed our certificate ({})",
        rs.cert.display()
    )));
    wait_until("erl to log the TLS alert", LOG_DEADLINE, || {
        erl.log_contains("Unknown CA")
    });

    // erlnode dials: erl, as server, refuses the client certificate.
    let (code, out, err) = cli(&["ping", &erl.node], &rs, &cookie, epmd.port);
    assert_eq!((code, out.trim()), (1, "pang"));
    assert!(
        err.contains(&format!("TLS connection to {}", erl.node))
            && err.contains("it refused our certificate"),
        "{err}"
    );
    // The same over TLS 1.3, where the client only learns it after its
    // handshake finished, inside the distribution handshake.
    let e13 = pki.node("e13", &ca, &[&ca], ", {versions, ['tlsv1.3']}");
    let erl13 = Erl::start(e13.erl("e13", &cookie, epmd.port));
    let (code, out, err) = cli(&["ping", &erl13.node], &rs, &cookie, epmd.port);
    assert_eq!((code, out.trim()), (1, "pang"));
    assert!(
        err.contains(&format!("TLS connection to {}", erl13.node))
            && err.contains("it refused our certificate"),
        "{err}"
    );
}

#[test]
fn long_names_on_127_0_0_1_check_the_ip_in_the_certificate() {
    let pki = Pki::new();
    let ca = pki.ca("main");
    let rs = pki.node("rs", &ca, &[&ca], "");
    // erl's certificate names the address only the way OTP checks it
    // (DNS:127.0.0.1); erlnode accepts that spelling too.
    let e = pki.node_named("e", &["dns:127.0.0.1"], &ca, &[&ca], "");
    let epmd = Epmd::start();
    let cookie = unique_cookie();
    let name = format!("{}@127.0.0.1", unique("rl"));
    let s = serve_tls(&rs, &cookie, epmd.port, &["--name", &name]);
    let mut opts = e.erl("e", &cookie, epmd.port);
    opts.long = true;
    opts.name = format!("{}@127.0.0.1", opts.name);
    let mut erl = Erl::start(opts);
    // erl's SNI and host check use "127.0.0.1", matched by IP:127.0.0.1.
    assert_eq!(erl.eval_ok(&format!("net_adm:ping('{}')", s.node)), "pong");
    assert_eq!(dist_protocol(&mut erl, &s.node), "tls");
    let (code, out, err) = cli(&["ping", &erl.node], &rs, &cookie, epmd.port);
    assert_eq!((code, out.trim()), (0, "pong"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn library_api_dials_erl_over_tls_and_checks_the_peer_host() {
    let pki = Pki::new();
    let ca = pki.ca("main");
    let rs = pki.node("rs", &ca, &[&ca], "");
    // This erl's certificate does not name the host it runs on.
    let e = pki.node_named("e", &["elsewhere.invalid"], &ca, &[&ca], "");
    let epmd = Epmd::start();
    let cookie = unique_cookie();
    let erl_opts = e.erl("e", &cookie, epmd.port);
    let erl = tokio::task::spawn_blocking(move || Erl::start(erl_opts))
        .await
        .unwrap();
    let start = |verify_hostname: bool| {
        let tls = erlnode::tls::TlsOptions::from_files(&rs.cert, &rs.key, &rs.cacert)
            .verify_hostname(verify_hostname)
            .load()
            .unwrap();
        erlnode::Node::builder(&unique("lib"))
            .cookie(&cookie)
            .epmd_port(epmd.port)
            .tls(tls)
            .start()
    };
    // Default: the certificate must name the host part of erl's node name.
    let strict = start(true).await.unwrap();
    assert!(!strict.ping(&erl.node).await);
    // With the host check off, the chain alone is checked, and TLS is used.
    let lax = start(false).await.unwrap();
    assert!(lax.ping(&erl.node).await);
    let me = lax.name().to_string();
    let mut erl = erl;
    let proto = tokio::task::spawn_blocking(move || dist_protocol(&mut erl, &me))
        .await
        .unwrap();
    assert_eq!(proto, "tls");
}
