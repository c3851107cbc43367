//! The sandbox's pay page, `GET /pay/sandbox/{paymentId}`: plain HTML (no JavaScript, no inline
//! style, every text escaped) with the amount, what it pays for, and Pay / Fail buttons. The form
//! posts back to `POST /pay/sandbox/{paymentId}` with a token bound to the payment and expiring
//! ([`TOKEN_TTL_MS`]), HMAC-signed under the sandbox secret, so another site cannot make a browser
//! pay or fail someone's order. The server then builds and signs the sandbox notification and
//! hands it to the same processing as `POST /api/v1/webhooks/sandbox`. Only a pending payment
//! whose gateway is `sandbox` can be paid here; a second submit finds it settled.
//! `GET /pay/return/{paymentId}` is where a gateway sends the payer's browser afterwards.

use super::gateways::{self, sandbox};
use super::webhooks::{self, Answer};
use super::{find, Payment, Purpose, Status};
use crate::app::App;
use crate::web::ctx::new_id;
use crate::web::ApiError;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How long a page's form may be submitted.
pub const TOKEN_TTL_MS: i64 = 30 * 60_000;

pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A whole page: `title` and `body_html` (already escaped).
pub fn page(title: &str, body_html: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\"><title>{t}</title></head>\n<body><main><h1>{t}</h1>\n{body_html}\n</main></body></html>\n",
        t = escape(title)
    )
}

fn token(secret: &str, payment_id: &str, exp: i64) -> String {
    let mut m = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!("any key"));
    m.update(format!("sandbox-page\n{payment_id}\n{exp}").as_bytes());
    hex::encode(m.finalize().into_bytes())
}

fn token_ok(secret: &str, payment_id: &str, exp: i64, given: &str) -> bool {
    let Ok(bytes) = hex::decode(given) else { return false };
    let mut m = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!("any key"));
    m.update(format!("sandbox-page\n{payment_id}\n{exp}").as_bytes());
    m.verify_slice(&bytes).is_ok()
}

fn what(p: &Payment) -> &'static str {
    match p.purpose {
        Purpose::ListingFee => "Listing fee",
        Purpose::Pass => "Pass",
        Purpose::Booking => "Booking",
    }
}

fn payable(app: &App, id: &str) -> Result<Payment, ApiError> {
    let p = app.db.read(|c| Ok::<_, ApiError>(find(c, id)?))?;
    p.filter(|p| p.gateway == "sandbox").ok_or_else(|| ApiError::missing("No sandbox payment has this id."))
}

/// `GET /pay/sandbox/{id}`: the page (404 for a payment that is not the sandbox's).
pub fn show(app: &App, id: &str) -> Result<String, ApiError> {
    let p = payable(app, id)?;
    let amount = escape(&super::display_amount(p.amount, &p.currency));
    if p.status != Status::Pending || p.expires_at <= app.now_ms() {
        let state = if p.status == Status::Pending { "expired" } else { p.status.public() };
        return Ok(page("Sandbox payment", &format!("<p>This payment of {amount} is {}.</p>", escape(state))));
    }
    let secret = gateways::sandbox_secret(app)?;
    let exp = app.now_ms() + TOKEN_TTL_MS;
    let tok = token(&secret, &p.id, exp);
    let action = escape(&format!("/pay/sandbox/{}", p.id));
    Ok(page(
        "Sandbox payment",
        &format!(
            "<p>This is the built-in sandbox: no money moves.</p>\n<p>{what}: <strong>{amount}</strong></p>\n\
             <form method=\"post\" action=\"{action}\">\
             <input type=\"hidden\" name=\"token\" value=\"{tok}\"><input type=\"hidden\" name=\"exp\" value=\"{exp}\">\
             <button type=\"submit\" name=\"action\" value=\"pay\">Pay {amount}</button> \
             <button type=\"submit\" name=\"action\" value=\"fail\">Fail</button></form>",
            what = escape(what(&p)),
        ),
    ))
}

/// `application/x-www-form-urlencoded` → pairs (bad escapes are kept literally).
pub fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    fn decode(s: &str) -> String {
        let b = s.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        let hexval = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
        while i < b.len() {
            let pair = if b[i] == b'%' && i + 2 < b.len() { hexval(b[i + 1]).zip(hexval(b[i + 2])) } else { None };
            match (b[i], pair) {
                (b'%', Some((hi, lo))) => {
                    out.push(hi * 16 + lo);
                    i += 2;
                }
                (b'+', _) => out.push(b' '),
                (c, _) => out.push(c),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    let text = String::from_utf8_lossy(body);
    text.split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(kv), String::new()),
        })
        .collect()
}

/// `POST /pay/sandbox/{id}`: checks the form's token, signs the notification, processes it.
pub fn submit(app: &App, id: &str, form: &[(String, String)]) -> Result<String, ApiError> {
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let p = payable(app, id)?;
    let secret = gateways::sandbox_secret(app)?;
    let exp = get("exp").and_then(|e| e.parse::<i64>().ok()).unwrap_or(0);
    let now = app.now_ms();
    if !token_ok(&secret, &p.id, exp, get("token").unwrap_or("")) || exp <= now || exp > now + TOKEN_TTL_MS {
        return Err(ApiError::bad_request("invalid_token", "This page has expired; open the payment link again."));
    }
    let kind = match get("action") {
        Some("pay") => "payment.succeeded",
        Some("fail") => "payment.failed",
        _ => return Err(ApiError::field("action", "must be pay or fail")),
    };
    if p.status != Status::Pending {
        return Ok(page("Sandbox payment", &format!("<p>This payment is already {}.</p>", escape(p.status.public()))));
    }
    if p.expires_at <= now {
        return Ok(page("Sandbox payment", "<p>This payment has expired; start a new one.</p>"));
    }
    let body = serde_json::json!({
        "id": new_id("sbx_evt"),
        "type": kind,
        "paymentId": p.id,
        "amount": p.amount,
        "currency": p.currency,
    })
    .to_string();
    let headers = vec![(sandbox::SIGNATURE_HEADER.to_string(), sandbox::header(&secret, now / 1000, body.as_bytes()))];
    let gw = sandbox::Sandbox::new(&app.config.server.public_url, &secret);
    webhooks::process(app, &gw, &headers, body.as_bytes())?;
    return_page(app, &p.id)
}

/// `GET /pay/return/{id}`: where the payer's browser lands; the payment's state in words.
pub fn return_page(app: &App, id: &str) -> Result<String, ApiError> {
    let p = app.db.read(|c| Ok::<_, ApiError>(find(c, id)?))?.ok_or_else(ApiError::not_found)?;
    let amount = escape(&super::display_amount(p.amount, &p.currency));
    let (title, text) = match p.status {
        Status::Succeeded | Status::PartiallyRefunded | Status::Refunded => {
            ("Payment received", format!("Thank you: your payment of {amount} was received."))
        }
        Status::Failed => ("Payment failed", format!("The payment of {amount} did not go through.")),
        Status::Expired => ("Payment expired", format!("The payment of {amount} expired unpaid.")),
        Status::Creating | Status::Pending => {
            ("Payment pending", format!("The payment of {amount} is being confirmed; you will be notified."))
        }
    };
    Ok(page(title, &format!("<p>{text}</p>")))
}

/// The HTML a browser-posting gateway's callback answers (`Answer::Html`).
pub fn callback_page(answer: &Answer) -> Option<String> {
    match answer {
        Answer::Html { title, text } => Some(page(title, &format!("<p>{}</p>", escape(text)))),
        Answer::Json(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_decode_and_text_is_escaped() {
        let f = parse_form(b"token=ab%2Fc&action=pay&x=a+b&bad=%zz&end=%4");
        assert_eq!(f[0], ("token".into(), "ab/c".into()));
        assert_eq!(f[2], ("x".into(), "a b".into()));
        assert_eq!(f[3], ("bad".into(), "%zz".into()));
        assert_eq!(f[4], ("end".into(), "%4".into()));
        assert_eq!(escape("<a href='x'>&\""), "&lt;a href=&#39;x&#39;&gt;&amp;&quot;");
        assert!(token_ok("s", "pay_1", 5, &token("s", "pay_1", 5)));
        assert!(!token_ok("s", "pay_2", 5, &token("s", "pay_1", 5)));
        assert!(!token_ok("s", "pay_1", 6, &token("s", "pay_1", 5)));
    }
}
