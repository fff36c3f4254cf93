//! TEMPORARY: minimal EPMD client until src/epmd lands. Do not build on it.
#![allow(missing_docs)]
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub fn epmd_port() -> u16 {
    std::env::var("ERL_EPMD_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(4369)
}

pub struct Registration {
    _sock: TcpStream,
    creation: u32,
}
impl Registration {
    pub fn creation(&self) -> u32 {
        self.creation
    }
}

pub async fn start_embedded_if_absent(_port: u16) -> std::io::Result<Option<()>> {
    Ok(None)
}

pub async fn register(port: u16, alive: &str, listen: u16) -> std::io::Result<Registration> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await?;
    let mut body = vec![120u8];
    body.extend_from_slice(&listen.to_be_bytes());
    body.extend_from_slice(&[72, 0, 0, 6, 0, 5]);
    body.extend_from_slice(&(alive.len() as u16).to_be_bytes());
    body.extend_from_slice(alive.as_bytes());
    body.extend_from_slice(&[0, 0]);
    let mut req = (body.len() as u16).to_be_bytes().to_vec();
    req.extend_from_slice(&body);
    s.write_all(&req).await?;
    let mut r = [0u8; 6];
    s.read_exact(&mut r).await?;
    if r[0] != 118 || r[1] != 0 {
        return Err(std::io::Error::other(format!("ALIVE2 refused: {r:?}")));
    }
    Ok(Registration {
        _sock: s,
        creation: u32::from_be_bytes([r[2], r[3], r[4], r[5]]),
    })
}

pub struct Entry {
    pub port: u16,
}

pub async fn port_please(host: &str, port: u16, alive: &str) -> std::io::Result<Option<Entry>> {
    let mut s = TcpStream::connect((host, port)).await?;
    let mut req = ((alive.len() + 1) as u16).to_be_bytes().to_vec();
    req.push(122);
    req.extend_from_slice(alive.as_bytes());
    s.write_all(&req).await?;
    let mut r = Vec::new();
    s.read_to_end(&mut r).await?;
    if r.len() < 4 || r[0] != 119 || r[1] != 0 {
        return Ok(None);
    }
    Ok(Some(Entry {
        port: u16::from_be_bytes([r[2], r[3]]),
    }))
}
