//! The probe's TLS client: one connection per question, with exactly the protocol versions,
//! suites and client certificate that question needs, and a bounded HTTP/1.1 exchange.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use foreign_types::ForeignTypeRef;
use openssl::pkey::{PKey, Private};
use openssl::ssl::{ErrorCode, Ssl, SslContext, SslContextBuilder, SslMethod, SslStream, SslVerifyMode, SslVersion};
use openssl::x509::X509;

/// Where the provider is.
#[derive(Clone)]
pub struct Target {
    pub host: String,
    pub port: u16,
    /// The service root path, without a trailing `/`.
    pub root: String,
}

/// A client certificate to present: the chain (leaf first) and its key.
#[derive(Clone)]
pub struct Identity {
    pub chain: Vec<X509>,
    pub key: PKey<Private>,
}

/// What one connection offers.
#[derive(Clone)]
pub struct Offer<'a> {
    pub min: SslVersion,
    pub max: SslVersion,
    pub ciphers: &'a str,
    pub identity: Option<&'a Identity>,
    /// Verify the server against these CAs (None: the probe does not judge the server).
    pub server_ca: Option<&'a [X509]>,
}

impl<'a> Offer<'a> {
    pub fn tls12(identity: Option<&'a Identity>, server_ca: Option<&'a [X509]>) -> Offer<'a> {
        Offer { min: SslVersion::TLS1_2, max: SslVersion::TLS1_2, ciphers: "ALL:@SECLEVEL=0", identity, server_ca }
    }
}

const TIMEOUT: Duration = Duration::from_secs(10);
/// Most bytes of a response read.
const MAX_RESPONSE: u64 = 1 << 20;

fn context(offer: &Offer<'_>) -> Result<SslContext, String> {
    let e = |what: &str| { let what = what.to_owned(); move |err: openssl::error::ErrorStack| format!("{what}: {err}") };
    let mut b = SslContextBuilder::new(SslMethod::tls_client()).map_err(e("SSL_CTX_new"))?;
    b.set_min_proto_version(Some(offer.min)).map_err(e("min version"))?;
    b.set_max_proto_version(Some(offer.max)).map_err(e("max version"))?;
    b.set_cipher_list(offer.ciphers).map_err(e("cipher list"))?;
    if let Some(id) = offer.identity {
        b.set_certificate(&id.chain[0]).map_err(e("client certificate"))?;
        for c in &id.chain[1..] {
            b.add_extra_chain_cert(c.clone()).map_err(e("client chain"))?;
        }
        b.set_private_key(&id.key).map_err(e("client key"))?;
    }
    match offer.server_ca {
        Some(cas) => {
            for ca in cas {
                b.cert_store_mut().add_cert(ca.clone()).map_err(e("server CA"))?;
            }
            b.set_verify(SslVerifyMode::PEER);
        }
        None => b.set_verify(SslVerifyMode::NONE),
    }
    Ok(b.build())
}

/// A finished handshake.
pub struct Session {
    pub stream: SslStream<TcpStream>,
    pub version: String,
    pub cipher: String,
}

/// Connects and handshakes; the error is what went wrong, as OpenSSL says it (the alert).
pub fn connect(t: &Target, offer: &Offer<'_>) -> Result<Session, String> {
    let ctx = context(offer)?;
    // Every address the name has, in order (localhost may be ::1 first and the server on 127.0.0.1 only).
    let addrs: Vec<_> = (t.host.as_str(), t.port).to_socket_addrs().map_err(|e| format!("connect {}:{}: {e}", t.host, t.port))?.collect();
    let mut last = format!("connect {}:{}: no address", t.host, t.port);
    let mut tcp = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, TIMEOUT) {
            Ok(s) => {
                tcp = Some(s);
                break;
            }
            Err(e) => last = format!("connect {addr}: {e}"),
        }
    }
    let tcp = tcp.ok_or(last)?;
    tcp.set_read_timeout(Some(TIMEOUT)).ok();
    tcp.set_write_timeout(Some(TIMEOUT)).ok();
    let mut ssl = Ssl::new(&ctx).map_err(|e| e.to_string())?;
    if t.host.parse::<std::net::IpAddr>().is_err() {
        ssl.set_hostname(&t.host).map_err(|e| e.to_string())?;
    }
    let stream = ssl.connect(tcp).map_err(|e| handshake_error(&e))?;
    let version = stream.ssl().version_str().to_owned();
    let cipher = stream.ssl().current_cipher().map(|c| c.name().to_owned()).unwrap_or_default();
    Ok(Session { stream, version, cipher })
}

fn handshake_error(e: &openssl::ssl::HandshakeError<TcpStream>) -> String {
    let text = e.to_string();
    // The alert name is the evidence: "... ssl/tls alert certificate revoked ..."
    match text.find("alert") {
        Some(i) => text[i..].split(':').next().unwrap_or(&text[i..]).trim().to_owned(),
        None => text.lines().next().unwrap_or("handshake failed").chars().take(200).collect(),
    }
}

/// A response as received.
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Every value of a header, in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).collect()
    }
}

/// One request on a session (Connection: close), the response read to its end (bounded).
pub fn exchange(mut s: Session, t: &Target, method: &str, path: &str, headers: &[(&str, String)]) -> Result<Response, String> {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {}:{}\r\nConnection: close\r\nAccept: application/fhir+json\r\n", t.host, t.port);
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    if method == "POST" || method == "PUT" {
        req.push_str("Content-Type: application/fhir+json\r\nContent-Length: 2\r\n\r\n{}");
    } else {
        req.push_str("\r\n");
    }
    s.stream.write_all(req.as_bytes()).map_err(|e| format!("sending the request: {e}"))?;
    let mut raw = Vec::new();
    let read = (&mut s.stream).take(MAX_RESPONSE).read_to_end(&mut raw);
    if raw.is_empty() {
        return Err(match read {
            Err(e) => format!("no response: {e}"),
            Ok(_) => "no response (connection closed)".into(),
        });
    }
    parse(&raw)
}

fn parse(raw: &[u8]) -> Result<Response, String> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or("a response without the end of its headers")?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status = status_line.split(' ').nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| format!("bad status line: {status_line}"))?;
    let headers = lines.filter_map(|l| l.split_once(':')).map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned())).collect();
    Ok(Response { status, headers, body: String::from_utf8_lossy(&raw[end + 4..]).into_owned() })
}

extern "C" {
    fn SSL_renegotiate(s: *mut openssl_sys::SSL) -> libc::c_int;
    fn SSL_renegotiate_pending(s: *const openssl_sys::SSL) -> libc::c_int;
}

/// Asks for a renegotiation on an established session and sends a request: Ok(evidence) when
/// the renegotiation completed (the server allowed it), Err(evidence) when it was refused.
pub fn try_renegotiation(mut s: Session, t: &Target) -> Result<String, String> {
    let ssl = s.stream.ssl().as_ptr();
    // SAFETY: a live SSL of this stream; plain calls on it.
    if unsafe { SSL_renegotiate(ssl) } != 1 {
        return Err("this client could not start a renegotiation".into());
    }
    if let Err(e) = s.stream.do_handshake() {
        // The read timed out: the server neither renegotiated nor said why (JSSE behind Tomcat's
        // NIO channel is silent whether or not JSSE itself refused the ClientHello).
        if e.code() == ErrorCode::WANT_READ {
            return Err(format!("renegotiation not completed: no answer to the new ClientHello in {} s (no alert, no ServerHello)", TIMEOUT.as_secs()));
        }
        return Err(format!("renegotiation refused: {}", e.ssl_error().map(|e| e.to_string()).unwrap_or_else(|| e.to_string())));
    }
    let req = format!("GET {}/metadata HTTP/1.1\r\nHost: {}:{}\r\nConnection: close\r\n\r\n", t.root, t.host, t.port);
    let sent = s.stream.write_all(req.as_bytes());
    let mut buf = [0u8; 512];
    let read = s.stream.read(&mut buf);
    // SAFETY: as above.
    let pending = unsafe { SSL_renegotiate_pending(ssl) } == 1;
    match (sent, read) {
        (Ok(()), Ok(n)) if n > 0 && !pending => Ok(format!("renegotiation completed, then {n} bytes of response")),
        (Err(e), _) => Err(format!("renegotiation refused: {e}")),
        (_, Err(e)) => Err(format!("renegotiation refused: {e}")),
        (_, Ok(_)) => Err("renegotiation refused: the connection ended".into()),
    }
}
