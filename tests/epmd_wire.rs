//! EPMD wire messages as byte vectors: every request and reply, the bytes
//! observed from OTP 25 (PROTOCOL.md §1.1), partial input and garbage.
use erlnode::epmd::EpmdError;
use erlnode::epmd::wire::*;

fn entry_a(port: u16) -> NodeEntry {
    NodeEntry {
        name: "a".into(),
        port,
        node_type: NODE_TYPE_NORMAL,
        protocol: 0,
        highest: 6,
        lowest: 5,
        extra: vec![],
    }
}

#[test]
fn alive2_req_bytes() {
    let e = NodeEntry::hidden("rust", 0x1234);
    let bytes = encode_alive2_req(&e).unwrap();
    let mut want = vec![0, 17, 120, 0x12, 0x34, 72, 0, 0, 6, 0, 5, 0, 4];
    want.extend_from_slice(b"rust");
    want.extend_from_slice(&[0, 0]);
    assert_eq!(bytes, want);
    let (req, used) = parse_request(&bytes).unwrap().unwrap();
    assert_eq!(used, bytes.len());
    assert_eq!(req, Request::Alive2(e));
}

#[test]
fn alive2_req_with_extra_round_trips() {
    let mut e = entry_a(9);
    e.extra = b"xyz".to_vec();
    let bytes = encode_alive2_req(&e).unwrap();
    assert_eq!(&bytes[bytes.len() - 5..], &[0, 3, b'x', b'y', b'z']);
    assert_eq!(
        parse_request(&bytes).unwrap().unwrap().0,
        Request::Alive2(e)
    );
}

#[test]
fn client_names_are_validated() {
    for bad in ["", "a\0b", "a@host", &"x".repeat(256)] {
        let e = NodeEntry::hidden(bad, 1);
        assert!(matches!(
            encode_alive2_req(&e),
            Err(EpmdError::InvalidName { .. })
        ));
        assert!(encode_port_please2_req(bad).is_err());
    }
    assert!(encode_port_please2_req(&"x".repeat(255)).is_ok());
    let mut e = entry_a(1);
    e.extra = vec![0; MAX_EXTRA_LEN + 1];
    assert!(matches!(
        encode_alive2_req(&e),
        Err(EpmdError::ExtraTooLong { .. })
    ));
}

#[test]
fn request_needs_more_bytes() {
    let bytes = encode_alive2_req(&entry_a(1)).unwrap();
    for n in 0..bytes.len() {
        assert_eq!(parse_request(&bytes[..n]).unwrap(), None, "prefix {n}");
    }
}

#[test]
fn request_bad_lengths() {
    assert!(matches!(
        parse_request(&[0, 0]),
        Err(EpmdError::BadRequestLength { len: 0, .. })
    ));
    let big = (MAX_REQUEST_LEN as u16 + 1).to_be_bytes();
    assert!(matches!(
        parse_request(&big),
        Err(EpmdError::BadRequestLength { .. })
    ));
    // The largest legal length only waits for more bytes.
    let max = (MAX_REQUEST_LEN as u16).to_be_bytes();
    assert_eq!(parse_request(&max).unwrap(), None);
    assert!(parse_request(&[0xff, 0xff]).is_err());
}

#[test]
fn request_simple_opcodes() {
    assert_eq!(
        parse_request(&encode_names_req()).unwrap().unwrap(),
        (Request::Names, 3)
    );
    assert_eq!(
        parse_request(&encode_dump_req()).unwrap().unwrap(),
        (Request::Dump, 3)
    );
    assert_eq!(
        parse_request(&encode_kill_req()).unwrap().unwrap(),
        (Request::Kill, 3)
    );
    assert_eq!(
        parse_request(&encode_stop_req("foo").unwrap())
            .unwrap()
            .unwrap(),
        (
            Request::Stop {
                name: b"foo".to_vec()
            },
            6
        )
    );
    assert!(matches!(
        parse_request(&[0, 1, 42]),
        Err(EpmdError::UnknownOpcode(42))
    ));
    // Trailing bytes after the frame are left to the caller.
    assert_eq!(
        parse_request(&[0, 1, 110, 9, 9]).unwrap().unwrap(),
        (Request::Names, 3)
    );
}

#[test]
fn port_please2_req_bytes() {
    let bytes = encode_port_please2_req("a").unwrap();
    assert_eq!(bytes, vec![0, 2, 122, b'a']);
    let want = Request::PortPlease2 { name: "a".into() };
    assert_eq!(parse_request(&bytes).unwrap().unwrap().0, want);
    // One trailing NUL is allowed, as epmd_srv.c strips it.
    assert_eq!(
        parse_request(&[0, 3, 122, b'a', 0]).unwrap().unwrap().0,
        want
    );
    assert!(parse_request(&[0, 1, 122]).is_err());
    assert!(parse_request(&[0, 2, 122, 0]).is_err());
    assert!(parse_request(&[0, 4, 122, b'a', 0, b'b']).is_err());
    assert!(parse_request(&[0, 2, 122, 0xff]).is_err());
}

fn raw_alive2(name: &[u8], extra: &[u8], nlen: u16, elen: u16, highest: u16) -> Vec<u8> {
    let mut body = vec![120, 0, 9, 77, 0];
    body.extend_from_slice(&highest.to_be_bytes());
    body.extend_from_slice(&5u16.to_be_bytes());
    body.extend_from_slice(&nlen.to_be_bytes());
    body.extend_from_slice(name);
    body.extend_from_slice(&elen.to_be_bytes());
    body.extend_from_slice(extra);
    let mut out = u16::try_from(body.len()).unwrap().to_be_bytes().to_vec();
    out.extend_from_slice(&body);
    out
}

#[test]
fn alive2_req_malformed_is_dropped() {
    // Empty name: the packet is 13 bytes, epmd wants more than 13.
    assert!(parse_request(&raw_alive2(b"", b"", 0, 0, 6)).is_err());
    // Nlen beyond the packet.
    assert!(parse_request(&raw_alive2(b"ab", b"", 40, 0, 6)).is_err());
    // Elen beyond the packet.
    assert!(parse_request(&raw_alive2(b"ab", b"x", 2, 9, 6)).is_err());
    // NUL inside the name.
    assert!(parse_request(&raw_alive2(b"a\0", b"", 2, 0, 6)).is_err());
    // Truncated fixed part (opcode plus a few bytes).
    assert!(parse_request(&[0, 4, 120, 0, 1, 77]).is_err());
}

#[test]
fn alive2_req_refused_names_get_a_reply() {
    let r = parse_request(&raw_alive2(&[b'e'; 256], b"", 256, 0, 6)).unwrap();
    assert!(matches!(
        r,
        Some((Request::Alive2Refused { highest: 6, .. }, _))
    ));
    let r = parse_request(&raw_alive2(&[0xff], b"", 1, 0, 5)).unwrap();
    assert!(matches!(
        r,
        Some((Request::Alive2Refused { highest: 5, .. }, _))
    ));
    // 255 characters of 2 bytes each are fine.
    let name = "é".repeat(255);
    let r = parse_request(&raw_alive2(name.as_bytes(), b"", 510, 0, 6)).unwrap();
    assert!(matches!(r, Some((Request::Alive2(e), _)) if e.name == name));
    // Extra of 256 bytes is accepted, as OTP 25's epmd does; 1021 is not.
    let r = parse_request(&raw_alive2(b"d", &[b'x'; 256], 1, 256, 6)).unwrap();
    assert!(matches!(r, Some((Request::Alive2(e), _)) if e.extra.len() == 256));
    let r = parse_request(&raw_alive2(b"d", &[b'x'; 1021], 1, 1021, 6)).unwrap();
    assert!(matches!(r, Some((Request::Alive2Refused { .. }, _))));
}

#[test]
fn alive2_replies_observed() {
    // Registering a live name: <<118,1,0,0,0,99>> (PROTOCOL.md §1.1).
    let dup = Alive2Reply {
        result: 1,
        creation: REFUSED_CREATION,
        form: Alive2Form::Extended,
    };
    assert_eq!(dup.encode(), vec![118, 1, 0, 0, 0, 99]);
    assert_eq!(parse_alive2_reply(&dup.encode()).unwrap(), Some((dup, 6)));
    // HighestVersion 5 gets <<121,0,0,2>>.
    let v5 = Alive2Reply {
        result: 0,
        creation: 2,
        form: Alive2Form::Legacy,
    };
    assert_eq!(v5.encode(), vec![121, 0, 0, 2]);
    assert_eq!(parse_alive2_reply(&[121, 0, 0, 2]).unwrap(), Some((v5, 4)));
    let big = Alive2Reply {
        result: 0,
        creation: 1_795_602_201,
        form: Alive2Form::Extended,
    };
    assert_eq!(
        parse_alive2_reply(&big.encode())
            .unwrap()
            .unwrap()
            .0
            .creation,
        1_795_602_201
    );
    for n in 0..6 {
        assert_eq!(
            parse_alive2_reply(&[118, 0, 0, 0, 0, 7][..n]).unwrap(),
            None
        );
    }
    assert_eq!(parse_alive2_reply(&[121, 0, 0]).unwrap(), None);
    assert!(parse_alive2_reply(&[119, 1]).is_err());
    assert_eq!(Alive2Form::for_highest(6), Alive2Form::Extended);
    assert_eq!(Alive2Form::for_highest(5), Alive2Form::Legacy);
    assert_eq!(Alive2Form::for_highest(0), Alive2Form::Legacy);
}

#[test]
fn port2_resp_observed() {
    // <<119,0,P1,P2,77,0,0,6,0,5,0,1,$a,0,0>> for an OTP 25 node "a".
    let bytes = [119, 0, 0xa5, 0x11, 77, 0, 0, 6, 0, 5, 0, 1, b'a', 0, 0];
    let e = entry_a(0xa511);
    assert_eq!(parse_port2_resp(&bytes).unwrap(), Some(e.clone()));
    assert_eq!(encode_port2_resp(Some(&e)), bytes.to_vec());
    // Unknown name: <<119,1>>.
    assert_eq!(encode_port2_resp(None), vec![119, 1]);
    assert_eq!(parse_port2_resp(&[119, 1]).unwrap(), None);
    let mut with_extra = e.clone();
    with_extra.extra = vec![1, 2];
    let enc = encode_port2_resp(Some(&with_extra));
    assert_eq!(parse_port2_resp(&enc).unwrap(), Some(with_extra));
}

#[test]
fn port2_resp_garbage() {
    let good = [119, 0, 0xa5, 0x11, 77, 0, 0, 6, 0, 5, 0, 1, b'a', 0, 0];
    for n in 0..good.len() {
        assert!(parse_port2_resp(&good[..n]).is_err(), "prefix {n}");
    }
    let mut long = good.to_vec();
    long.push(0);
    assert!(parse_port2_resp(&long).is_err());
    assert!(parse_port2_resp(&[119, 1, 0]).is_err());
    assert!(parse_port2_resp(&[118, 0]).is_err());
    // Name length pointing far beyond the buffer.
    assert!(parse_port2_resp(&[119, 0, 0, 1, 77, 0, 0, 6, 0, 5, 0xff, 0xff, b'a']).is_err());
}

#[test]
fn names_reply_observed() {
    // <<0,0,17,17,"name fake at port 42633\n">> (PROTOCOL.md §1.1).
    let mut bytes = vec![0, 0, 17, 17];
    bytes.extend_from_slice(b"name fake at port 42633\n");
    assert_eq!(encode_names_reply(4369, [("fake", 42633)]), bytes);
    let r = parse_names_reply(&bytes).unwrap();
    assert_eq!(r.epmd_port, 4369);
    assert_eq!(r.names, vec![("fake".to_string(), 42633)]);
    assert_eq!(parse_names_reply(&[0, 0, 17, 17]).unwrap().names, vec![]);
    assert!(parse_names_reply(&[0, 0, 17]).is_err());
}

#[test]
fn names_reply_lenient_like_erl_epmd() {
    let mut bytes = vec![0, 0, 0, 1];
    bytes.extend_from_slice(
        b"name a at port 1\ngarbage\nname b at port x\nname c at port 3\nname d at",
    );
    let r = parse_names_reply(&bytes).unwrap();
    assert_eq!(r.names, vec![("a".into(), 1), ("c".into(), 3)]);
}

/// Found by the epmd_server fuzz target: OTP's epmd registers names with
/// spaces (checked live: it lists "a b" as `name a b at port 5000`), and
/// the client cut the line at the first space, dropping the name.
#[test]
fn names_reply_with_spaces_in_names() {
    let names = [("a b", 5000), ("n ", 54176), ("e at port 9", 7), (" ", 1)];
    let bytes = encode_names_reply(4369, names);
    // What OTP 25's epmd sent for "e at port 9" registered at port 5000.
    assert!(
        bytes
            .windows(32)
            .any(|w| w == b"name e at port 9 at port 7\nname "),
        "{bytes:?}"
    );
    let r = parse_names_reply(&bytes).unwrap();
    let want: Vec<(String, u16)> = names.iter().map(|(n, p)| (n.to_string(), *p)).collect();
    assert_eq!(r.names, want);
}

#[test]
fn dump_reply_format() {
    let reply = DumpReply {
        epmd_port: 43695,
        active: vec![DumpEntry {
            name: "g".into(),
            port: 7777,
            fd: 8,
        }],
        old: vec![DumpEntry {
            name: "a".into(),
            port: 5555,
            fd: 5,
        }],
    };
    // Bytes as OTP 25's epmd sent them (checked live).
    let mut want = vec![0, 0, 0xaa, 0xaf];
    want.extend_from_slice(b"active name     <g> at port 7777, fd = 8\n\0");
    want.extend_from_slice(b"old/unused name <a>, port = 5555, fd = 5 \n\0");
    assert_eq!(encode_dump_reply(&reply), want);
    assert_eq!(parse_dump_reply(&want).unwrap(), reply);
    assert!(parse_dump_reply(&want[..want.len() - 1]).is_err());
    assert!(parse_dump_reply(&[0, 0, 1]).is_err());
    let mut junk = vec![0, 0, 0, 1];
    junk.extend_from_slice(b"hello\0");
    assert!(parse_dump_reply(&junk).is_err());
}

#[test]
fn kill_and_stop() {
    assert_eq!(encode_kill_req(), vec![0, 1, 107]);
    assert_eq!(parse_kill_reply(b"OK").unwrap(), KillReply::Ok);
    assert_eq!(parse_kill_reply(b"NO").unwrap(), KillReply::Refused);
    assert!(parse_kill_reply(b"").is_err());
    assert_eq!(KillReply::Refused.encode(), b"NO");
    assert_eq!(encode_stop_req("ab").unwrap(), vec![0, 3, 115, b'a', b'b']);
}
