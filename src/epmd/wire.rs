//! EPMD wire messages: pure encoding and parsing, no IO.
//!
//! Every request is `Len:u16` followed by `Len` bytes whose first byte is the
//! opcode; replies have no length prefix (PROTOCOL.md §1.1, `erl_dist_protocol`
//! "EPMD Protocol"). The byte layouts and the acceptance rules follow OTP's
//! `erts/epmd/src/epmd_srv.c`.
//!
//! Requests are parsed the mini-redis way: [`parse_request`] returns
//! `Ok(None)` while more bytes are needed and an error for a frame the server
//! must drop. Replies are parsed from the complete byte string the client read
//! up to EOF (EPMD closes after every reply but ALIVE2's).

use super::EpmdError;

/// ALIVE2_REQ: register a node name (`'x'`).
pub const ALIVE2_REQ: u8 = 120;
/// ALIVE2_X_RESP: registration reply with a 32-bit creation (`'v'`), sent when
/// the request's HighestVersion is at least 6.
pub const ALIVE2_X_RESP: u8 = 118;
/// ALIVE2_RESP: registration reply with a 16-bit creation (`'y'`), sent when
/// the request's HighestVersion is below 6.
pub const ALIVE2_RESP: u8 = 121;
/// PORT_PLEASE2_REQ: look a name up (`'z'`).
pub const PORT_PLEASE2_REQ: u8 = 122;
/// PORT2_RESP: the answer to PORT_PLEASE2_REQ (`'w'`).
pub const PORT2_RESP: u8 = 119;
/// NAMES_REQ: list the live names (`'n'`).
pub const NAMES_REQ: u8 = 110;
/// DUMP_REQ: list live and old names with their sockets (`'d'`).
pub const DUMP_REQ: u8 = 100;
/// KILL_REQ: ask EPMD to exit (`'k'`).
pub const KILL_REQ: u8 = 107;
/// STOP_REQ: ask EPMD to drop a name (`'s'`).
pub const STOP_REQ: u8 = 115;

/// NodeType of a normal Erlang node (`'M'`).
pub const NODE_TYPE_NORMAL: u8 = 77;
/// NodeType of a hidden node or C node (`'H'`). EPMD only stores it; peers
/// learn hiddenness from the handshake flags (PROTOCOL.md §1.1).
pub const NODE_TYPE_HIDDEN: u8 = 72;
/// Protocol 0: TCP (IPv4, and also what IPv6 and TLS nodes register).
pub const PROTOCOL_TCP: u8 = 0;
/// HighestVersion OTP 23+ registers: the `'N'` handshake.
pub const DIST_VSN_HIGHEST: u16 = 6;
/// LowestVersion OTP 25.2.3 registers (observed on the wire, PROTOCOL.md §1.1).
pub const DIST_VSN_LOWEST: u16 = 5;

/// Largest node name EPMD stores, in bytes: OTP's `MAXSYMLEN` (255 UTF-8
/// characters of up to 4 bytes, `epmd_int.h`).
pub const MAX_SYMLEN: usize = 255 * 4;
/// Largest node name, in characters: the atom limit EPMD enforces
/// (`node_reg2` in `epmd_srv.c`).
pub const MAX_NAME_CHARS: usize = 255;
/// Largest name our client sends, in bytes. Names must also fit an atom in the
/// handshake's Latin-1, so we keep to 255 bytes (PROTOCOL.md §7 item 6).
pub const MAX_CLIENT_NAME_LEN: usize = 255;
/// Largest Extra field EPMD accepts in ALIVE2_REQ: `MAXSYMLEN` again
/// (`node_reg2`; OTP 25's epmd accepts a 256-byte Extra, checked live).
pub const MAX_EXTRA_LEN: usize = MAX_SYMLEN;
/// Largest request body (the `Len` field) a server accepts. OTP's epmd reads
/// into `INBUF_SIZE = 3 * MAXSYMLEN` bytes and drops a packet whose
/// `Len + 2 >= INBUF_SIZE`.
pub const MAX_REQUEST_LEN: usize = 3 * MAX_SYMLEN - 3;
/// Fixed part of an ALIVE2_REQ body before the name: opcode, PortNo, NodeType,
/// Protocol, HighestVersion, LowestVersion, Nlen.
const ALIVE2_FIXED_LEN: usize = 11;

/// One registered node as EPMD describes it: the fields of ALIVE2_REQ, which
/// PORT2_RESP echoes back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeEntry {
    /// The alive name: the part of the node name before `@`.
    pub name: String,
    /// The node's distribution listen port.
    pub port: u16,
    /// [`NODE_TYPE_NORMAL`] or [`NODE_TYPE_HIDDEN`].
    pub node_type: u8,
    /// [`PROTOCOL_TCP`].
    pub protocol: u8,
    /// Highest distribution version the node speaks.
    pub highest: u16,
    /// Lowest distribution version the node speaks.
    pub lowest: u16,
    /// Opaque Extra bytes (the BEAM sends none).
    pub extra: Vec<u8>,
}

impl NodeEntry {
    /// An entry for a hidden node listening on `port`, with the versions
    /// OTP 25 registers (6 and 5) and no Extra.
    pub fn hidden(name: &str, port: u16) -> NodeEntry {
        NodeEntry {
            name: name.to_string(),
            port,
            node_type: NODE_TYPE_HIDDEN,
            protocol: PROTOCOL_TCP,
            highest: DIST_VSN_HIGHEST,
            lowest: DIST_VSN_LOWEST,
            extra: Vec::new(),
        }
    }
}

/// Checks a name before a client sends it: not empty, at most
/// [`MAX_CLIENT_NAME_LEN`] bytes, no NUL, no `@` (EPMD knows only the alive
/// part of `name@host`).
pub fn validate_client_name(name: &str) -> Result<(), EpmdError> {
    let why = if name.is_empty() {
        "it is empty"
    } else if name.len() > MAX_CLIENT_NAME_LEN {
        "it is longer than 255 bytes"
    } else if name.contains('\0') {
        "it contains a NUL byte"
    } else if name.contains('@') {
        "it contains '@' (give EPMD only the part before '@')"
    } else {
        return Ok(());
    };
    Err(EpmdError::InvalidName {
        name: name.to_string(),
        why,
    })
}

/// Checks a name the way OTP's epmd does when a node registers: valid UTF-8,
/// 1 to [`MAX_NAME_CHARS`] characters, at most [`MAX_SYMLEN`] bytes, no NUL.
pub fn validate_server_name(name: &[u8]) -> Result<&str, EpmdError> {
    let lossy = || String::from_utf8_lossy(name).into_owned();
    let s = std::str::from_utf8(name).map_err(|_| EpmdError::InvalidName {
        name: lossy(),
        why: "it is not valid UTF-8",
    })?;
    let why = if s.is_empty() {
        "it is empty"
    } else if s.len() > MAX_SYMLEN || s.chars().count() > MAX_NAME_CHARS {
        "it is longer than 255 characters"
    } else if s.contains('\0') {
        "it contains a NUL byte"
    } else {
        return Ok(s);
    };
    Err(EpmdError::InvalidName { name: lossy(), why })
}

// ---------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------

/// A request a client sends to EPMD, as a server parses it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// ALIVE2_REQ with a name EPMD accepts.
    Alive2(NodeEntry),
    /// ALIVE2_REQ that is well framed but whose name or Extra EPMD refuses
    /// (bad UTF-8, too long). OTP answers it with Result=1, in the reply form
    /// chosen by `highest`.
    Alive2Refused {
        /// The request's HighestVersion, which picks the reply form.
        highest: u16,
        /// Why the name was refused.
        reason: EpmdError,
    },
    /// PORT_PLEASE2_REQ for an alive name.
    PortPlease2 {
        /// The name looked up.
        name: String,
    },
    /// NAMES_REQ.
    Names,
    /// DUMP_REQ.
    Dump,
    /// KILL_REQ.
    Kill,
    /// STOP_REQ for a name (kept as bytes: OTP refuses STOP without
    /// `-relaxed_command_check` before looking at it).
    Stop {
        /// The name to stop.
        name: Vec<u8>,
    },
}

/// Parses one length-prefixed request from the start of `buf`.
///
/// Returns `Ok(None)` while more bytes are needed, or the request and the
/// number of bytes it used. Errors mean OTP's epmd would close the connection
/// without a reply: a `Len` of 0 or above [`MAX_REQUEST_LEN`], an unknown
/// opcode, or a malformed body.
pub fn parse_request(buf: &[u8]) -> Result<Option<(Request, usize)>, EpmdError> {
    let Some(len_bytes) = buf.first_chunk::<2>() else {
        return Ok(None);
    };
    let len = usize::from(u16::from_be_bytes(*len_bytes));
    if len == 0 || len > MAX_REQUEST_LEN {
        return Err(EpmdError::BadRequestLength {
            len,
            max: MAX_REQUEST_LEN,
        });
    }
    let Some(body) = buf.get(2..2 + len) else {
        return Ok(None);
    };
    Ok(Some((parse_request_body(body)?, 2 + len)))
}

/// Parses a request body (opcode and what follows, without `Len`).
pub fn parse_request_body(body: &[u8]) -> Result<Request, EpmdError> {
    let Some((&opcode, rest)) = body.split_first() else {
        return Err(malformed("empty request"));
    };
    match opcode {
        ALIVE2_REQ => parse_alive2_req(body),
        PORT_PLEASE2_REQ => parse_port_please2_req(rest),
        NAMES_REQ => Ok(Request::Names),
        DUMP_REQ => Ok(Request::Dump),
        KILL_REQ => Ok(Request::Kill),
        STOP_REQ => Ok(Request::Stop {
            name: rest.to_vec(),
        }),
        other => Err(EpmdError::UnknownOpcode(other)),
    }
}

fn malformed(what: &'static str) -> EpmdError {
    EpmdError::MalformedRequest(what)
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..)?.first_chunk::<2>()?;
    Some(u16::from_be_bytes(*s))
}

/// ALIVE2_REQ body, with OTP's checks: at least one name byte, Nlen and Elen
/// inside the packet, no NUL in the name. Bytes after Extra are ignored, as
/// epmd does.
fn parse_alive2_req(body: &[u8]) -> Result<Request, EpmdError> {
    // Opcode, 10 bytes of fixed fields, Elen: 13 bytes, plus a name byte.
    if body.len() <= ALIVE2_FIXED_LEN + 2 {
        return Err(malformed("ALIVE2_REQ too short"));
    }
    let field = |at| be16(body, at).ok_or(malformed("ALIVE2_REQ truncated"));
    let port = field(1)?;
    let node_type = *body.get(3).ok_or(malformed("ALIVE2_REQ truncated"))?;
    let protocol = *body.get(4).ok_or(malformed("ALIVE2_REQ truncated"))?;
    let highest = field(5)?;
    let lowest = field(7)?;
    let nlen = usize::from(field(9)?);
    if nlen + ALIVE2_FIXED_LEN + 2 > body.len() {
        return Err(malformed("ALIVE2_REQ name length beyond the packet"));
    }
    let name = body
        .get(ALIVE2_FIXED_LEN..ALIVE2_FIXED_LEN + nlen)
        .ok_or(malformed("ALIVE2_REQ name length beyond the packet"))?;
    let elen = usize::from(field(ALIVE2_FIXED_LEN + nlen)?);
    let extra_at = ALIVE2_FIXED_LEN + nlen + 2;
    let extra = body
        .get(extra_at..extra_at + elen)
        .ok_or(malformed("ALIVE2_REQ extra length beyond the packet"))?;
    if name.contains(&0) {
        return Err(malformed("ALIVE2_REQ name contains NUL"));
    }
    let name = match validate_server_name(name) {
        Ok(n) => n.to_string(),
        Err(reason) => return Ok(Request::Alive2Refused { highest, reason }),
    };
    if extra.len() > MAX_EXTRA_LEN {
        return Ok(Request::Alive2Refused {
            highest,
            reason: EpmdError::ExtraTooLong {
                len: extra.len(),
                max: MAX_EXTRA_LEN,
            },
        });
    }
    Ok(Request::Alive2(NodeEntry {
        name,
        port,
        node_type,
        protocol,
        highest,
        lowest,
        extra: extra.to_vec(),
    }))
}

/// PORT_PLEASE2_REQ: the rest of the packet is the name, one trailing NUL
/// allowed (old clients sent one).
fn parse_port_please2_req(rest: &[u8]) -> Result<Request, EpmdError> {
    let name = rest.strip_suffix(&[0]).unwrap_or(rest);
    if name.is_empty() {
        return Err(malformed("PORT_PLEASE2_REQ without a name"));
    }
    if name.contains(&0) {
        return Err(malformed("PORT_PLEASE2_REQ name contains NUL"));
    }
    let name = validate_server_name(name)
        .map_err(|_| malformed("PORT_PLEASE2_REQ name is not 1-255 UTF-8 characters"))?;
    Ok(Request::PortPlease2 {
        name: name.to_string(),
    })
}

fn frame(body: &[u8]) -> Result<Vec<u8>, EpmdError> {
    let len = u16::try_from(body.len())
        .ok()
        .filter(|&l| usize::from(l) <= MAX_REQUEST_LEN)
        .ok_or(EpmdError::BadRequestLength {
            len: body.len(),
            max: MAX_REQUEST_LEN,
        })?;
    let mut out = Vec::with_capacity(body.len() + 2);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(body);
    Ok(out)
}

/// Encodes ALIVE2_REQ, length prefix included. The name is checked with
/// [`validate_client_name`] and Extra against [`MAX_EXTRA_LEN`].
pub fn encode_alive2_req(entry: &NodeEntry) -> Result<Vec<u8>, EpmdError> {
    validate_client_name(&entry.name)?;
    if entry.extra.len() > MAX_EXTRA_LEN {
        return Err(EpmdError::ExtraTooLong {
            len: entry.extra.len(),
            max: MAX_EXTRA_LEN,
        });
    }
    let name = entry.name.as_bytes();
    let mut body = Vec::with_capacity(13 + name.len() + entry.extra.len());
    body.push(ALIVE2_REQ);
    body.extend_from_slice(&entry.port.to_be_bytes());
    body.push(entry.node_type);
    body.push(entry.protocol);
    body.extend_from_slice(&entry.highest.to_be_bytes());
    body.extend_from_slice(&entry.lowest.to_be_bytes());
    // Both lengths fit: checked against 255 and MAX_EXTRA_LEN above.
    body.extend_from_slice(&(name.len() as u16).to_be_bytes());
    body.extend_from_slice(name);
    body.extend_from_slice(&(entry.extra.len() as u16).to_be_bytes());
    body.extend_from_slice(&entry.extra);
    frame(&body)
}

/// Encodes PORT_PLEASE2_REQ for an alive name.
pub fn encode_port_please2_req(name: &str) -> Result<Vec<u8>, EpmdError> {
    validate_client_name(name)?;
    let mut body = Vec::with_capacity(1 + name.len());
    body.push(PORT_PLEASE2_REQ);
    body.extend_from_slice(name.as_bytes());
    frame(&body)
}

/// Encodes NAMES_REQ: `<<0,1,110>>`.
pub fn encode_names_req() -> Vec<u8> {
    vec![0, 1, NAMES_REQ]
}

/// Encodes DUMP_REQ: `<<0,1,100>>`.
pub fn encode_dump_req() -> Vec<u8> {
    vec![0, 1, DUMP_REQ]
}

/// Encodes KILL_REQ: `<<0,1,107>>`.
pub fn encode_kill_req() -> Vec<u8> {
    vec![0, 1, KILL_REQ]
}

/// Encodes STOP_REQ for a name.
pub fn encode_stop_req(name: &str) -> Result<Vec<u8>, EpmdError> {
    validate_client_name(name)?;
    let mut body = Vec::with_capacity(1 + name.len());
    body.push(STOP_REQ);
    body.extend_from_slice(name.as_bytes());
    frame(&body)
}

// ---------------------------------------------------------------------------
// Replies
// ---------------------------------------------------------------------------

/// Which ALIVE2 reply form EPMD used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Alive2Form {
    /// ALIVE2_X_RESP (118), 32-bit creation: HighestVersion ≥ 6.
    Extended,
    /// ALIVE2_RESP (121), 16-bit creation: HighestVersion < 6.
    Legacy,
}

impl Alive2Form {
    /// The form OTP's epmd answers a request with this HighestVersion in.
    pub fn for_highest(highest: u16) -> Alive2Form {
        if highest >= 6 {
            Alive2Form::Extended
        } else {
            Alive2Form::Legacy
        }
    }
}

/// Creation OTP's epmd puts in a refused ALIVE2 reply.
pub const REFUSED_CREATION: u32 = 99;

/// The answer to ALIVE2_REQ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Alive2Reply {
    /// 0 = registered; anything else = refused (OTP: name in use or invalid).
    pub result: u8,
    /// The node's creation (meaningless when refused; OTP sends 99).
    pub creation: u32,
    /// Reply form.
    pub form: Alive2Form,
}

impl Alive2Reply {
    /// Encodes the reply. A 16-bit reply carries the low 16 bits of
    /// `creation`.
    pub fn encode(&self) -> Vec<u8> {
        match self.form {
            Alive2Form::Extended => {
                let mut out = vec![ALIVE2_X_RESP, self.result];
                out.extend_from_slice(&self.creation.to_be_bytes());
                out
            }
            Alive2Form::Legacy => {
                let mut out = vec![ALIVE2_RESP, self.result];
                out.extend_from_slice(&((self.creation & 0xffff) as u16).to_be_bytes());
                out
            }
        }
    }
}

/// Parses an ALIVE2 reply of either form from the start of `buf`.
/// `Ok(None)` while more bytes are needed; returns the reply and its length.
pub fn parse_alive2_reply(buf: &[u8]) -> Result<Option<(Alive2Reply, usize)>, EpmdError> {
    let Some(&tag) = buf.first() else {
        return Ok(None);
    };
    match tag {
        ALIVE2_X_RESP => {
            let Some(&[_, result, c0, c1, c2, c3]) = buf.first_chunk::<6>() else {
                return Ok(None);
            };
            let creation = u32::from_be_bytes([c0, c1, c2, c3]);
            let form = Alive2Form::Extended;
            Ok(Some((
                Alive2Reply {
                    result,
                    creation,
                    form,
                },
                6,
            )))
        }
        ALIVE2_RESP => {
            let Some(&[_, result, c0, c1]) = buf.first_chunk::<4>() else {
                return Ok(None);
            };
            let creation = u32::from(u16::from_be_bytes([c0, c1]));
            let form = Alive2Form::Legacy;
            Ok(Some((
                Alive2Reply {
                    result,
                    creation,
                    form,
                },
                4,
            )))
        }
        other => Err(EpmdError::UnexpectedReply {
            request: "ALIVE2_REQ",
            detail: format!("reply starts with byte {other}, expected 118 or 121"),
        }),
    }
}

/// Encodes PORT2_RESP: the entry, or `<<119,1>>` when the name is unknown.
pub fn encode_port2_resp(entry: Option<&NodeEntry>) -> Vec<u8> {
    let Some(e) = entry else {
        return vec![PORT2_RESP, 1];
    };
    let name = e.name.as_bytes();
    let mut out = Vec::with_capacity(14 + name.len() + e.extra.len());
    out.push(PORT2_RESP);
    out.push(0);
    out.extend_from_slice(&e.port.to_be_bytes());
    out.push(e.node_type);
    out.push(e.protocol);
    out.extend_from_slice(&e.highest.to_be_bytes());
    out.extend_from_slice(&e.lowest.to_be_bytes());
    // Entries come from ALIVE2_REQ, whose u16 lengths bound both fields.
    out.extend_from_slice(&(name.len().min(usize::from(u16::MAX)) as u16).to_be_bytes());
    out.extend_from_slice(name);
    out.extend_from_slice(&(e.extra.len().min(usize::from(u16::MAX)) as u16).to_be_bytes());
    out.extend_from_slice(&e.extra);
    out
}

/// Largest PORT2_RESP: 14 fixed bytes, a name and an Extra of up to
/// `MAXSYMLEN` bytes each (`epmd_int.h` sizes its output buffer the same way).
pub const MAX_PORT2_RESP_LEN: usize = 14 + 2 * MAX_SYMLEN;

/// Parses a complete PORT2_RESP (everything EPMD sent before closing).
/// `Ok(None)` means the name is not registered (any nonzero Result, as
/// `erl_epmd` treats it).
pub fn parse_port2_resp(buf: &[u8]) -> Result<Option<NodeEntry>, EpmdError> {
    let bad = |detail: &str| EpmdError::UnexpectedReply {
        request: "PORT_PLEASE2_REQ",
        detail: detail.to_string(),
    };
    match buf {
        [] => return Err(bad("EPMD closed the connection without a reply")),
        [PORT2_RESP] => return Err(bad("reply truncated after the tag")),
        [PORT2_RESP, 0, ..] => {}
        [PORT2_RESP, _] => return Ok(None),
        [PORT2_RESP, _, ..] => return Err(bad("trailing bytes after an error result")),
        [tag, ..] => return Err(bad(&format!("reply starts with byte {tag}, expected 119"))),
    }
    let truncated = || bad("reply truncated");
    let port = be16(buf, 2).ok_or_else(truncated)?;
    let node_type = *buf.get(4).ok_or_else(truncated)?;
    let protocol = *buf.get(5).ok_or_else(truncated)?;
    let highest = be16(buf, 6).ok_or_else(truncated)?;
    let lowest = be16(buf, 8).ok_or_else(truncated)?;
    let nlen = usize::from(be16(buf, 10).ok_or_else(truncated)?);
    let name = buf.get(12..12 + nlen).ok_or_else(truncated)?;
    let elen = usize::from(be16(buf, 12 + nlen).ok_or_else(truncated)?);
    let extra_at = 14 + nlen;
    let extra = buf.get(extra_at..extra_at + elen).ok_or_else(truncated)?;
    if buf.len() != extra_at + elen {
        return Err(bad("trailing bytes after the entry"));
    }
    let name = std::str::from_utf8(name)
        .map_err(|_| bad("node name is not UTF-8"))?
        .to_string();
    Ok(Some(NodeEntry {
        name,
        port,
        node_type,
        protocol,
        highest,
        lowest,
        extra: extra.to_vec(),
    }))
}

/// The answer to NAMES_REQ.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamesReply {
    /// The port EPMD says it listens on.
    pub epmd_port: u32,
    /// Live names and their distribution ports, in EPMD's order.
    pub names: Vec<(String, u16)>,
}

/// Encodes the NAMES reply: `EpmdPort:u32` then `name N at port P\n` lines.
pub fn encode_names_reply<'a>(
    epmd_port: u32,
    names: impl IntoIterator<Item = (&'a str, u16)>,
) -> Vec<u8> {
    let mut out = epmd_port.to_be_bytes().to_vec();
    for (name, port) in names {
        out.extend_from_slice(format!("name {name} at port {port}\n").as_bytes());
    }
    out
}

/// Parses a complete NAMES reply. Like `erl_epmd:names/1`, lines that do not
/// read `name N at port P` and a final unterminated line are skipped; names
/// must be UTF-8.
pub fn parse_names_reply(buf: &[u8]) -> Result<NamesReply, EpmdError> {
    let Some(port) = buf.first_chunk::<4>() else {
        return Err(EpmdError::UnexpectedReply {
            request: "NAMES_REQ",
            detail: format!(
                "reply is {} bytes, shorter than its 4-byte header",
                buf.len()
            ),
        });
    };
    let epmd_port = u32::from_be_bytes(*port);
    let mut names = Vec::new();
    let text = buf.get(4..).unwrap_or_default();
    let mut lines: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
    // The piece after the last '\n' is unterminated (or empty).
    lines.pop();
    for line in lines {
        if let Some(entry) = parse_names_line(line) {
            names.push(entry);
        }
    }
    Ok(NamesReply { epmd_port, names })
}

fn parse_names_line(line: &[u8]) -> Option<(String, u16)> {
    let line = std::str::from_utf8(line).ok()?;
    let rest = line.strip_prefix("name ")?;
    // Names may hold spaces, even " at port " (epmd accepts any UTF-8 without
    // NUL), and the port never does: cut at the last " at port ".
    let (name, port) = rest.rsplit_once(" at port ")?;
    let port = port.parse().ok()?;
    Some((name.to_string(), port))
}

/// One DUMP line: a live or old name, its port and the socket EPMD holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DumpEntry {
    /// The alive name.
    pub name: String,
    /// Its distribution port.
    pub port: u16,
    /// EPMD's file descriptor (or connection number) for the registration.
    pub fd: i64,
}

/// The answer to DUMP_REQ.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DumpReply {
    /// The port EPMD says it listens on.
    pub epmd_port: u32,
    /// Live registrations.
    pub active: Vec<DumpEntry>,
    /// Names that were registered and are kept to bump their creation.
    pub old: Vec<DumpEntry>,
}

/// Encodes a DUMP reply in `epmd_srv.c`'s format, each line NUL-terminated.
pub fn encode_dump_reply(reply: &DumpReply) -> Vec<u8> {
    let mut out = reply.epmd_port.to_be_bytes().to_vec();
    for e in &reply.active {
        let line = format!(
            "active name     <{}> at port {}, fd = {}\n",
            e.name, e.port, e.fd
        );
        out.extend_from_slice(line.as_bytes());
        out.push(0);
    }
    for e in &reply.old {
        let line = format!(
            "old/unused name <{}>, port = {}, fd = {} \n",
            e.name, e.port, e.fd
        );
        out.extend_from_slice(line.as_bytes());
        out.push(0);
    }
    out
}

/// Parses a complete DUMP reply. Entries that do not match the format are
/// an error: unlike NAMES, no OTP code is lenient about DUMP.
pub fn parse_dump_reply(buf: &[u8]) -> Result<DumpReply, EpmdError> {
    let bad = |detail: String| EpmdError::UnexpectedReply {
        request: "DUMP_REQ",
        detail,
    };
    let Some(port) = buf.first_chunk::<4>() else {
        return Err(bad(format!(
            "reply is {} bytes, shorter than its 4-byte header",
            buf.len()
        )));
    };
    let epmd_port = u32::from_be_bytes(*port);
    let mut reply = DumpReply {
        epmd_port,
        active: Vec::new(),
        old: Vec::new(),
    };
    let mut items: Vec<&[u8]> = buf
        .get(4..)
        .unwrap_or_default()
        .split(|&b| b == 0)
        .collect();
    if items.pop().is_some_and(|last| !last.is_empty()) {
        return Err(bad("last entry is not NUL-terminated".into()));
    }
    for item in items {
        let line = std::str::from_utf8(item).map_err(|_| bad("entry is not UTF-8".into()))?;
        if let Some(e) = parse_dump_line(line, "active name     <", "> at port ", ", fd = ", "\n") {
            reply.active.push(e);
        } else if let Some(e) =
            parse_dump_line(line, "old/unused name <", ">, port = ", ", fd = ", " \n")
        {
            reply.old.push(e);
        } else {
            return Err(bad(format!("unrecognised entry {line:?}")));
        }
    }
    Ok(reply)
}

fn parse_dump_line(line: &str, head: &str, mid: &str, fd: &str, tail: &str) -> Option<DumpEntry> {
    let rest = line.strip_prefix(head)?.strip_suffix(tail)?;
    let (name, rest) = rest.rsplit_once(mid)?;
    let (port, fd_s) = rest.split_once(fd)?;
    Some(DumpEntry {
        name: name.to_string(),
        port: port.parse().ok()?,
        fd: fd_s.parse().ok()?,
    })
}

/// The answer to KILL_REQ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KillReply {
    /// `"OK"`: EPMD exits.
    Ok,
    /// `"NO"`: refused because names are registered (no
    /// `-relaxed_command_check`).
    Refused,
}

impl KillReply {
    /// The two reply bytes.
    pub fn encode(self) -> &'static [u8] {
        match self {
            KillReply::Ok => b"OK",
            KillReply::Refused => b"NO",
        }
    }
}

/// Parses a complete KILL reply. `epmd -kill` reads two bytes: `OK` means
/// killed and anything else refused; fewer bytes are an error.
pub fn parse_kill_reply(buf: &[u8]) -> Result<KillReply, EpmdError> {
    match buf.get(..2) {
        Some(b"OK") => Ok(KillReply::Ok),
        Some(_) => Ok(KillReply::Refused),
        None => Err(EpmdError::UnexpectedReply {
            request: "KILL_REQ",
            detail: format!(
                "EPMD answered {:?}, expected OK or NO",
                String::from_utf8_lossy(buf)
            ),
        }),
    }
}

/// STOP replies of an epmd run with `-relaxed_command_check`. Without it,
/// epmd closes the connection without a reply.
pub const STOP_OK: &[u8] = b"STOPPED";
/// STOP reply for an unknown name (relaxed command check only).
pub const STOP_NOEXIST: &[u8] = b"NOEXIST";
