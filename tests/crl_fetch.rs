//! `gpcguard crl-fetch` against a real HTTP server (a small one in this test, on 127.0.0.1)
//! serving, at the distribution point the certificates name, good, stale, older, future, wrongly
//! signed, truncated, slow and oversized CRLs. A good one replaces the installed file (and the
//! library then refuses the newly revoked client); any other leaves the installed file's bytes
//! as they were. The PKI is tests/crl_fetch_pki.sh's.

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{repo, run_ok, work_dir};

/// What the server answers for one path.
#[derive(Clone)]
struct Reply {
    body: Vec<u8>,
    /// Seconds to wait before answering.
    delay: u64,
    /// Send Content-Length (else the body ends when the connection closes).
    length: bool,
    status: u16,
}

type Routes = Arc<Mutex<HashMap<String, Reply>>>;

fn serve(routes: Routes) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let routes = routes.clone();
            std::thread::spawn(move || answer(conn, &routes));
        }
    });
    port
}

fn answer(mut conn: TcpStream, routes: &Routes) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 8192 {
        if conn.read(&mut byte).unwrap_or(0) == 0 {
            return;
        }
        head.push(byte[0]);
    }
    let line = String::from_utf8_lossy(&head).lines().next().unwrap_or("").to_owned();
    let path = line.split(' ').nth(1).unwrap_or("").to_owned();
    let reply = routes.lock().unwrap().get(&path).cloned().unwrap_or(Reply { body: b"not here".to_vec(), delay: 0, length: true, status: 404 });
    std::thread::sleep(Duration::from_secs(reply.delay));
    let mut out = format!("HTTP/1.1 {} X\r\nConnection: close\r\nContent-Type: application/pkix-crl\r\n", reply.status);
    if reply.length {
        out.push_str(&format!("Content-Length: {}\r\n", reply.body.len()));
    }
    out.push_str("\r\n");
    let _ = conn.write_all(out.as_bytes());
    let _ = conn.write_all(&reply.body);
}

struct Fixture {
    dir: PathBuf,
    routes: Routes,
    installed: Vec<u8>,
}

impl Fixture {
    fn new() -> Fixture {
        let routes: Routes = Arc::default();
        let port = serve(routes.clone());
        let dir = work_dir("crl_fetch");
        run_ok(Command::new(repo().join("tests/crl_fetch_pki.sh")).arg(&dir).arg(format!("http://127.0.0.1:{port}")), "crl_fetch_pki.sh");
        // Served as DER, smaller than the SubCA's CRLs, so --max-bytes tests reach the SubCA's.
        let root = openssl::x509::X509Crl::from_pem(&std::fs::read(dir.join("root-ca.crl")).unwrap()).unwrap().to_der().unwrap();
        routes.lock().unwrap().insert("/root-ca.crl".into(), Reply { body: root, delay: 0, length: true, status: 200 });
        let installed = std::fs::read(dir.join("sub-ca.crl")).unwrap();
        Fixture { dir, routes, installed }
    }

    /// Serves `file` of the PKI folder as the SubCA's CRL.
    fn serve_sub(&self, file: &str, delay: u64, length: bool) {
        let body = std::fs::read(self.dir.join(file)).unwrap();
        self.routes.lock().unwrap().insert("/sub-ca.crl".into(), Reply { body, delay, length, status: 200 });
    }

    fn fetch(&self, extra: &[&str]) -> (i32, String) {
        std::fs::write(self.dir.join("sub-ca.crl"), &self.installed).unwrap();
        let config = self.dir.join("provider.toml");
        let o: Output = Command::new(env!("CARGO_BIN_EXE_gpcguard"))
            .args(["crl-fetch", "--config", config.to_str().unwrap(), "--timeout", "2"])
            .args(extra)
            .output()
            .unwrap();
        (o.status.code().unwrap(), format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)))
    }

    fn installed_unchanged(&self) -> bool {
        std::fs::read(self.dir.join("sub-ca.crl")).unwrap() == self.installed
    }

    fn check_cert(&self, cert: &str) -> String {
        let o = Command::new(env!("CARGO_BIN_EXE_gpcguard"))
            .args(["check-cert", "--config", self.dir.join("provider.toml").to_str().unwrap(), self.dir.join(cert).to_str().unwrap()])
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
}

const SUB: &str = "CN=Fetch SubCA,O=gpcguard test";

#[test]
fn crl_fetch_replaces_only_with_a_good_newer_crl() {
    let f = Fixture::new();
    assert!(f.check_cert("client-b.pem").contains("verdict  accepted"), "client-b is not revoked by the installed CRL");

    // Refused downloads: exit 1, the reason, and the installed bytes untouched.
    let refusals: &[(&str, u64, bool, &[&str], &str)] = &[
        ("sub-stale.crl", 0, true, &[], "it is stale: nextUpdate"),
        ("sub-older.crl", 0, true, &[], "older than the installed CRL: crlNumber 1000 < 1001"),
        ("sub-future.crl", 0, true, &[], "its thisUpdate"),
        ("sub-wrong.crl", 0, true, &[], "its signature does not verify with the key of CN=Fetch SubCA,O=gpcguard test"),
        ("sub-truncated.crl", 0, true, &[], "that are not one PEM or DER CRL (truncated?)"),
        ("sub-good.crl", 4, true, &[], "time limit of 2 s reached"),
    ];
    for (file, delay, length, extra, why) in refusals {
        f.serve_sub(file, *delay, *length);
        let (code, out) = f.fetch(extra);
        assert_eq!(code, 1, "{file}: {out}");
        assert!(out.contains(&format!("{SUB}: refused http://127.0.0.1:")) && out.contains(why), "{file}: wanted `{why}` in:\n{out}");
        assert!(out.contains(&format!("{SUB}: kept {}", f.dir.join("sub-ca.crl").display())), "{file}: {out}");
        assert!(f.installed_unchanged(), "{file} replaced the installed CRL");
    }

    // The size limit at N-1 (refused, with and without Content-Length) and N (accepted).
    let good_len = std::fs::metadata(f.dir.join("sub-good.crl")).unwrap().len();
    for length in [true, false] {
        f.serve_sub("sub-good.crl", 0, length);
        let (code, out) = f.fetch(&["--max-bytes", &(good_len - 1).to_string()]);
        assert_eq!(code, 1, "{out}");
        assert!(out.contains(&format!("more than --max-bytes ({} bytes)", good_len - 1)), "Content-Length {length}: {out}");
        assert!(f.installed_unchanged());
    }

    // A missing file on the server.
    f.routes.lock().unwrap().remove("/sub-ca.crl");
    let (code, out) = f.fetch(&[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("download failed") && out.contains("404"), "{out}");

    // --dry-run checks and writes nothing.
    f.serve_sub("sub-good.crl", 0, true);
    let (code, out) = f.fetch(&["--dry-run", "--max-bytes", &good_len.to_string(), "--on-change", "false"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("would write") && f.installed_unchanged(), "{out}");

    // --dir writes there, not over the configured file.
    let staging = f.dir.join("staging");
    std::fs::create_dir_all(&staging).unwrap();
    let (code, out) = f.fetch(&["--dir", staging.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(staging.join("sub-ca.crl").exists() && f.installed_unchanged(), "{out}");

    // The good CRL at exactly --max-bytes: written over the configured file, in its PEM form,
    // and the library now refuses client-b.
    let marker = f.dir.join("on-change-ran");
    let on_change = format!("touch '{}'", marker.display());
    let (code, out) = f.fetch(&["--max-bytes", &good_len.to_string(), "--on-change", &on_change]);
    assert_eq!(code, 0, "{out}");
    assert!(marker.exists(), "--on-change ran after a write: {out}");
    assert!(out.contains(&format!("{SUB}: updated {}", f.dir.join("sub-ca.crl").display())), "{out}");
    assert!(out.contains("crlNumber 1001 -> 1002") && out.contains("entries 1 -> 2"), "{out}");
    assert!(out.contains("O=gpcguard test,CN=Fetch RootCA: unchanged (http://127.0.0.1:"), "{out}");
    let written = std::fs::read(f.dir.join("sub-ca.crl")).unwrap();
    assert!(written.starts_with(b"-----BEGIN X509 CRL-----"), "the installed PEM form is kept");
    assert!(f.check_cert("client-b.pem").contains("refused: CERT_REVOKED"), "{}", f.check_cert("client-b.pem"));
    assert!(no_temporary_files(&f.dir), "a temporary file was left behind");
}

fn no_temporary_files(dir: &Path) -> bool {
    std::fs::read_dir(dir).unwrap().flatten().all(|e| !e.file_name().to_string_lossy().ends_with(".tmp"))
}
