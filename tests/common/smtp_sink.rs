//! A minimal SMTP server for tests, shared by the channel and integration test crates
//! (included with `#[path]`): it accepts mail on loopback and records what arrived.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Default)]
pub struct Received {
    pub helo: String,
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    /// The message as transmitted after DATA, dot-stuffing undone, CRLF line ends kept.
    pub data: String,
}

/// A minimal SMTP server (RFC 5321 subset): 220 greeting, EHLO/HELO, MAIL, RCPT, DATA, RSET,
/// NOOP, QUIT. Recipients listed in `reject` get `550`, those in `defer` get `451`.
pub struct SmtpSink {
    pub port: u16,
    messages: Arc<Mutex<Vec<Received>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SmtpSink {
    pub fn start(reject: &[&str], defer: &[&str]) -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind sink");
        let port = listener.local_addr().unwrap().port();
        let messages: Arc<Mutex<Vec<Received>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (log, halt) = (messages.clone(), stop.clone());
        let reject: Vec<String> = reject.iter().map(|s| s.to_string()).collect();
        let defer: Vec<String> = defer.iter().map(|s| s.to_string()).collect();
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if halt.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                // One conversation at a time is all these tests need.
                let _ = session(conn, &log, &reject, &defer);
            }
        });
        SmtpSink { port, messages, stop, thread: Some(thread) }
    }

    pub fn received(&self) -> Vec<Received> {
        self.messages.lock().unwrap().clone()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port)); // wake the accept loop
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn session(conn: TcpStream, log: &Mutex<Vec<Received>>, reject: &[String], defer: &[String]) -> std::io::Result<()> {
    conn.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    let mut w = conn.try_clone()?;
    let mut r = BufReader::new(conn);
    w.write_all(b"220 sink.test ESMTP ready\r\n")?;
    let mut cur = Received::default();
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let cmd = line.trim_end().to_string();
        let upper = cmd.to_ascii_uppercase();
        if upper.starts_with("EHLO ") {
            cur.helo = cmd[5..].to_string();
            w.write_all(b"250-sink.test greets you\r\n250-8BITMIME\r\n250 SIZE 1000000\r\n")?;
        } else if upper.starts_with("HELO ") {
            cur.helo = cmd[5..].to_string();
            w.write_all(b"250 sink.test\r\n")?;
        } else if upper.starts_with("MAIL FROM:") {
            cur.mail_from = angle(&cmd[10..]);
            w.write_all(b"250 2.1.0 Ok\r\n")?;
        } else if upper.starts_with("RCPT TO:") {
            let addr = angle(&cmd[8..]);
            if reject.contains(&addr) {
                w.write_all(format!("550 5.1.1 <{addr}>: Recipient address rejected: User unknown\r\n").as_bytes())?;
            } else if defer.contains(&addr) {
                w.write_all(b"451 4.3.0 Mailbox temporarily unavailable, try again later\r\n")?;
            } else {
                cur.rcpt_to.push(addr);
                w.write_all(b"250 2.1.5 Ok\r\n")?;
            }
        } else if upper == "DATA" {
            w.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")?;
            let mut data = String::new();
            loop {
                line.clear();
                if r.read_line(&mut line)? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" {
                    break;
                }
                data.push_str(line.strip_prefix('.').unwrap_or(&line));
            }
            cur.data = data;
            log.lock().unwrap().push(std::mem::take(&mut cur));
            w.write_all(b"250 2.0.0 Ok: queued as SINK1\r\n")?;
        } else if upper == "RSET" {
            cur = Received { helo: cur.helo.clone(), ..Received::default() };
            w.write_all(b"250 2.0.0 Ok\r\n")?;
        } else if upper == "NOOP" {
            w.write_all(b"250 2.0.0 Ok\r\n")?;
        } else if upper == "QUIT" {
            w.write_all(b"221 2.0.0 Bye\r\n")?;
            return Ok(());
        } else {
            w.write_all(b"502 5.5.2 Command not recognized\r\n")?;
        }
    }
}

/// `<a@b> BODY=8BITMIME` → `a@b`.
fn angle(s: &str) -> String {
    let s = s.trim();
    match (s.find('<'), s.find('>')) {
        (Some(a), Some(b)) if a < b => s[a + 1..b].to_string(),
        _ => s.split_whitespace().next().unwrap_or("").to_string(),
    }
}
