//! `--push`: uploads to a Pyroscope-style `/ingest` on a loopback listener, which checks
//! the request and hands the body to `go tool pprof`; refusing and absent servers.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{capture, go_pprof, perf_client};
use crate::perf_data::handmade::temp_path;

/// One request as the listener saw it.
#[derive(Debug)]
pub(super) struct Request {
    /// `POST /ingest?... HTTP/1.1`.
    pub line: String,
    /// Header lines, lower-cased names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// A loopback listener answering request `i` with `statuses[i]` (the last status
/// repeats) until [`Server::stop`]; it checks nothing itself and hands back what it saw.
pub(super) struct Server {
    pub url: String,
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Vec<Request>>,
}

impl Server {
    /// Stops accepting and returns the requests seen.
    pub fn stop(self) -> Vec<Request> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap()
    }
}

fn read_request(stream: &mut TcpStream) -> Request {
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).unwrap();
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':').unwrap();
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .map(|(_, v)| v.parse().unwrap())
        .expect("the upload has a Content-Length");
    let mut body = vec![0; len];
    reader.read_exact(&mut body).unwrap();
    Request {
        line: line.trim_end().to_owned(),
        headers,
        body,
    }
}

pub(super) fn serve(statuses: Vec<u16>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    listener.set_nonblocking(true).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = Arc::clone(&stop);
    let handle = std::thread::spawn(move || {
        let mut seen = Vec::new();
        // Polls for connections until stopped (bounded: ten minutes at most).
        let deadline = Instant::now() + Duration::from_secs(600);
        while !stopped.load(Ordering::Relaxed) && Instant::now() < deadline {
            let mut stream = match listener.accept() {
                Ok((s, _)) => s,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                }
                Err(e) => panic!("accept: {e}"),
            };
            let req = read_request(&mut stream);
            let status = statuses[seen.len().min(statuses.len() - 1)];
            let reason = if status == 200 { "OK" } else { "Nope" };
            let answer = format!("{status} {reason}: perf-client test server");
            write!(
                stream,
                "HTTP/1.1 {status} {reason}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                answer.len()
            )
            .unwrap();
            seen.push(req);
        }
        seen
    });
    Server { url, stop, handle }
}

/// `%XX` decoding of a query string value (`+` is a space).
fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

/// The query parameters of a request line.
pub(super) fn query(line: &str) -> Vec<(String, String)> {
    let target = line.split_whitespace().nth(1).unwrap();
    let (_, q) = target.split_once('?').unwrap_or((target, ""));
    q.split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

#[test]
fn export_push_uploads_a_profile_that_go_tool_pprof_reads() {
    let Some(data) = capture() else { return };
    let server = serve(vec![200]);
    let url = server.url.clone();
    let o = perf_client(
        &[
            "export",
            "--format",
            "pprof",
            "-i",
            data.to_str().unwrap(),
            "--push",
            &url,
            "--app",
            "dd.cpu",
            "--label",
            "env=test",
            "--label",
            "host=loopback",
        ],
        None,
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("HTTP 200"), "{err}");
    let reqs = server.stop();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert!(r.line.starts_with("POST /ingest?"), "{}", r.line);
    let q = query(&r.line);
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("name"), Some("dd.cpu{env=test,host=loopback}"));
    assert_eq!(get("format"), Some("pprof"));
    let from: u64 = get("from").unwrap().parse().unwrap();
    let until: u64 = get("until").unwrap().parse().unwrap();
    assert!(from < until && until > 1_600_000_000, "{from}..{until}");
    assert!(r
        .headers
        .iter()
        .any(|(k, v)| k == "content-type" && v == "application/octet-stream"));
    assert_eq!(&r.body[..2], &[0x1f, 0x8b], "a gzipped body");
    let body = temp_path("pushed.pb.gz");
    std::fs::write(&body, &r.body).unwrap();
    let Some(top) = go_pprof(&["-top", body.to_str().unwrap()]) else {
        return;
    };
    let text = String::from_utf8_lossy(&top.stdout);
    assert!(
        top.status.success(),
        "{}",
        String::from_utf8_lossy(&top.stderr)
    );
    assert!(text.contains("Type: cpu"), "{text}");
}

#[test]
fn export_push_to_a_refusing_server_fails_with_its_status_after_bounded_retries() {
    let Some(data) = capture() else { return };
    // 500 is retried (once here), then reported.
    let server = serve(vec![500]);
    let url = server.url.clone();
    let o = perf_client(
        &[
            "export",
            "--format",
            "pprof",
            "-i",
            data.to_str().unwrap(),
            "--push",
            &url,
            "--push-retries",
            "1",
        ],
        None,
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "a refused push must fail: {err}");
    assert!(err.contains("refused the profile: HTTP 500"), "{err}");
    assert_eq!(server.stop().len(), 2, "one retry");
    // 400 is a refusal of this profile: not retried.
    let server = serve(vec![400]);
    let url = server.url.clone();
    let o = perf_client(
        &[
            "export",
            "--format",
            "pprof",
            "-i",
            data.to_str().unwrap(),
            "--push",
            &url,
            "--push-retries",
            "3",
        ],
        None,
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("HTTP 400"), "{err}");
    assert_eq!(server.stop().len(), 1, "no retry of a 4xx");
}

#[test]
fn export_push_to_a_closed_port_fails_after_its_retries() {
    let Some(data) = capture() else { return };
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}");
    let o = perf_client(
        &[
            "export",
            "--format",
            "pprof",
            "-i",
            data.to_str().unwrap(),
            "--push",
            &url,
            "--push-retries",
            "2",
        ],
        None,
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("failed after 3 attempts"), "{err}");
}
