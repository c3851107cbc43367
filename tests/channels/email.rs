//! The e-mail channel against a small SMTP sink on loopback (plaintext, `tls = "none"`).

use crate::closed_port;
use buildxpert::channels::email::Mailer;
use buildxpert::channels::SendError;
use buildxpert::config::{Config, Smtp};
#[path = "../common/smtp_sink.rs"]
mod smtp_sink;
use smtp_sink::SmtpSink;

fn smtp(port: u16) -> Smtp {
    Smtp { host: "127.0.0.1".into(), port, username: String::new(), password: String::new(), tls: "none".into() }
}

/// A header of the top-level message, unfolded (RFC 5322 continuation lines joined).
fn header(data: &str, name: &str) -> Option<String> {
    let head = data.split("\r\n\r\n").next().unwrap_or("");
    let mut fields: Vec<String> = Vec::new();
    for line in head.split("\r\n") {
        match fields.last_mut() {
            Some(last) if line.starts_with([' ', '\t']) => last.push_str(line),
            _ => fields.push(line.to_string()),
        }
    }
    fields.iter().find_map(|f| {
        let (k, v) = f.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
    })
}

#[test]
fn email_delivers_multipart_alternative_with_text_and_html() {
    let sink = SmtpSink::start(&[], &[]);
    let mailer = Mailer::new("BuildXpert <noreply@example.test>", &smtp(sink.port)).unwrap();
    let id = mailer
        .send(
            "guest@example.test",
            "Booking bk_1 confirmed",
            "Your booking bk_1 is confirmed.",
            "<p>Your booking <b>bk_1</b> is confirmed.</p>",
        )
        .expect("sent");
    assert!(id.starts_with('<') && id.ends_with("@example.test>"), "{id}");

    let got = sink.received();
    assert_eq!(got.len(), 1);
    let m = &got[0];
    assert_eq!(m.mail_from, "noreply@example.test");
    assert_eq!(m.rcpt_to, vec!["guest@example.test".to_string()]);
    assert!(!m.helo.is_empty());
    assert_eq!(header(&m.data, "From").as_deref(), Some("BuildXpert <noreply@example.test>"));
    assert_eq!(header(&m.data, "To").as_deref(), Some("guest@example.test"));
    assert_eq!(header(&m.data, "Subject").as_deref(), Some("Booking bk_1 confirmed"));
    assert_eq!(header(&m.data, "Message-ID").as_deref(), Some(id.as_str()));
    assert_eq!(header(&m.data, "MIME-Version").as_deref(), Some("1.0"));
    assert!(header(&m.data, "Date").is_some());
    let ct = header(&m.data, "Content-Type").expect("content type");
    assert!(ct.starts_with("multipart/alternative;"), "{ct}");
    let boundary = ct.split("boundary=").nth(1).expect("boundary").trim_matches('"');

    let parts: Vec<&str> = m.data.split(&format!("--{boundary}")).collect();
    // preamble, plain, html, closing `--`
    assert_eq!(parts.len(), 4, "{}", m.data);
    let (plain, html) = (parts[1], parts[2]);
    assert!(plain.to_ascii_lowercase().contains("content-type: text/plain; charset=utf-8"), "{plain}");
    assert!(plain.contains("Your booking bk_1 is confirmed."), "{plain}");
    assert!(html.to_ascii_lowercase().contains("content-type: text/html; charset=utf-8"), "{html}");
    assert!(html.contains("<p>Your booking <b>bk_1</b> is confirmed.</p>"), "{html}");
    assert!(parts[3].starts_with("--"));
}

#[test]
fn email_each_message_gets_a_fresh_message_id() {
    let sink = SmtpSink::start(&[], &[]);
    let mailer = Mailer::new("noreply@example.test", &smtp(sink.port)).unwrap();
    let a = mailer.send("a@example.test", "s", "t", "<p>t</p>").unwrap();
    let b = mailer.send("b@example.test", "s", "t", "<p>t</p>").unwrap();
    assert_ne!(a, b);
    assert_eq!(sink.received().len(), 2);
}

#[test]
fn email_550_recipient_is_permanent_and_does_not_echo_the_address() {
    let sink = SmtpSink::start(&["nobody@example.test"], &[]);
    let mailer = Mailer::new("noreply@example.test", &smtp(sink.port)).unwrap();
    let err = mailer.send("nobody@example.test", "Hi", "text", "<p>html</p>").unwrap_err();
    assert!(matches!(err, SendError::Permanent(_)), "{err:?}");
    assert!(err.message().contains("550"), "{err}");
    assert!(!err.message().contains("nobody@"), "address leaked into the error: {err}");
    assert!(sink.received().is_empty());
}

#[test]
fn email_451_recipient_is_transient() {
    let sink = SmtpSink::start(&[], &["busy@example.test"]);
    let mailer = Mailer::new("noreply@example.test", &smtp(sink.port)).unwrap();
    let err = mailer.send("busy@example.test", "Hi", "text", "<p>html</p>").unwrap_err();
    assert!(matches!(err, SendError::Transient(_)), "{err:?}");
    assert!(err.message().contains("451"), "{err}");
}

#[test]
fn email_closed_port_is_transient() {
    let mailer = Mailer::new("noreply@example.test", &smtp(closed_port())).unwrap();
    let err = mailer.send("guest@example.test", "Hi", "text", "<p>html</p>").unwrap_err();
    assert!(matches!(err, SendError::Transient(_)), "{err:?}");
}

#[test]
fn email_bad_addresses_are_permanent() {
    let sink = SmtpSink::start(&[], &[]);
    assert!(Mailer::new("not an address", &smtp(sink.port)).unwrap_err().is_permanent());
    let mailer = Mailer::new("noreply@example.test", &smtp(sink.port)).unwrap();
    let err = mailer.send("no-at-sign", "Hi", "t", "<p>t</p>").unwrap_err();
    assert!(err.is_permanent(), "{err:?}");
    assert!(sink.received().is_empty());
}

#[test]
fn email_from_config_follows_provider_and_tls_mode() {
    let mut c = Config::defaults();
    c.email.provider = "none".into();
    assert!(Mailer::from_config(&c).unwrap().is_none());
    c.email.provider = "smtp".into();
    c.email.from = "BuildXpert <noreply@example.test>".into();
    c.email.smtp = Smtp {
        host: "smtp.example.test".into(),
        port: 587,
        username: "user".into(),
        password: "pw".into(),
        tls: "starttls".into(),
    };
    let m = Mailer::from_config(&c).unwrap().expect("a mailer");
    let dbg = format!("{m:?}");
    assert!(dbg.contains("smtp.example.test") && !dbg.contains("pw"), "{dbg}");
    c.email.smtp.tls = "tls".into();
    assert!(Mailer::from_config(&c).unwrap().is_some());
    c.email.smtp.tls = "ssl3".into();
    assert!(Mailer::from_config(&c).unwrap_err().is_permanent());
}

#[test]
fn email_non_ascii_subject_and_body_are_encoded_for_7bit_transport() {
    let sink = SmtpSink::start(&[], &[]);
    let mailer = Mailer::new("BuildXpert <noreply@example.test>", &smtp(sink.port)).unwrap();
    mailer.send("guest@example.test", "Paid ₹1,499 — thanks", "Total ₹1,499", "<p>Total ₹1,499</p>").unwrap();
    let m = &sink.received()[0];
    let subject = header(&m.data, "Subject").unwrap();
    assert!(subject.is_ascii() && subject.contains("=?utf-8?b?"), "RFC 2047 encoded-word expected: {subject}");
    assert_eq!(decode_encoded_words(&subject), "Paid ₹1,499 — thanks");
    assert!(m.data.is_ascii(), "the transmitted message stays 7-bit: {}", m.data);
}

/// Decodes `=?utf-8?b?…?=` encoded words (RFC 2047, base64 form), as a mail reader would.
fn decode_encoded_words(s: &str) -> String {
    use base64::Engine;
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("=?utf-8?b?") {
        out.push_str(&rest[..start]);
        let word = &rest[start + 10..];
        let end = word.find("?=").expect("terminated encoded word");
        let bytes = base64::engine::general_purpose::STANDARD.decode(&word[..end]).expect("base64");
        out.push_str(&String::from_utf8(bytes).expect("utf-8"));
        rest = &word[end + 2..];
    }
    out.push_str(rest);
    out
}
