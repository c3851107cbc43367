//! `POST /calls/{id}/quality {rttMs, jitterMs, packetLossPercent, bitrateKbps?}`: a party's
//! figures (from `RTCPeerConnection.getStats()`), stored with the MOS they estimate; the call's
//! `mos` is the mean over its reports. A report is also the party's heartbeat (`timeouts.rs`).
//!
//! The MOS is a simplified ITU-T G.107 E-model (Cole & Rosenbluth, "Voice over IP performance
//! monitoring", 2001), with the G.711 + packet-loss-concealment loss figures:
//! - one-way delay `d = rttMs / 2 + 2 · jitterMs + 10` (ms; the jitter buffer holds about two
//!   jitters, plus 10 ms of codec framing);
//! - delay impairment `Id = 0.024 d + 0.11 (d − 177.3) H(d − 177.3)` (H the unit step);
//! - equipment impairment `Ie = 30 ln(1 + 15 e)` with `e` the loss fraction (0–1);
//! - `R = 93.2 − Id − Ie`, clamped to 0–100;
//! - `MOS = 1 + 0.035 R + 7·10⁻⁶ R (R − 60)(100 − R)`, 1.0 (unusable) to about 4.41 (perfect).

use super::Status;
use crate::app::App;
use crate::db::Cached;
use crate::web::auth::Principal;
use crate::web::ApiError;
use rusqlite::params;
use serde::Deserialize;
use serde_json::json;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Report {
    pub rtt_ms: f64,
    pub jitter_ms: f64,
    pub packet_loss_percent: f64,
    #[serde(default)]
    pub bitrate_kbps: Option<f64>,
}

/// Largest accepted RTT and jitter, ms.
pub const MAX_MS: f64 = 60_000.0;
/// Largest accepted bitrate, kbit/s.
pub const MAX_KBPS: f64 = 100_000.0;

/// The R factor of the simplified E-model (see the module comment).
pub fn r_factor(rtt_ms: f64, jitter_ms: f64, loss_percent: f64) -> f64 {
    let d = rtt_ms / 2.0 + 2.0 * jitter_ms + 10.0;
    let id = 0.024 * d + if d > 177.3 { 0.11 * (d - 177.3) } else { 0.0 };
    let e = (loss_percent / 100.0).clamp(0.0, 1.0);
    let ie = 30.0 * (1.0 + 15.0 * e).ln();
    (93.2 - id - ie).clamp(0.0, 100.0)
}

/// R → MOS (ITU-T G.107 Annex B), two decimals.
pub fn mos_of_r(r: f64) -> f64 {
    let mos = if r <= 0.0 {
        1.0
    } else if r >= 100.0 {
        4.5
    } else {
        1.0 + 0.035 * r + 7.0e-6 * r * (r - 60.0) * (100.0 - r)
    };
    (mos.clamp(1.0, 4.5) * 100.0).round() / 100.0
}

pub fn mos(rtt_ms: f64, jitter_ms: f64, loss_percent: f64) -> f64 {
    mos_of_r(r_factor(rtt_ms, jitter_ms, loss_percent))
}

/// 400 `validation_failed` naming every figure out of range.
pub fn check(r: &Report) -> Result<(), ApiError> {
    let mut errs: Vec<(&str, String)> = Vec::new();
    let mut range = |name: &'static str, v: f64, max: f64| {
        if !v.is_finite() || !(0.0..=max).contains(&v) {
            errs.push((name, format!("must be a number from 0 to {max}")));
        }
    };
    range("rttMs", r.rtt_ms, MAX_MS);
    range("jitterMs", r.jitter_ms, MAX_MS);
    range("packetLossPercent", r.packet_loss_percent, 100.0);
    if let Some(b) = r.bitrate_kbps {
        range("bitrateKbps", b, MAX_KBPS);
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(ApiError::validation(errs))
    }
}

/// Stores a report by a party of an active (or just ended) call; returns its MOS.
pub fn report(app: &App, p: &Principal, id: &str, r: Report) -> Result<f64, ApiError> {
    check(&r)?;
    let now = app.now_ms();
    let score = mos(r.rtt_ms, r.jitter_ms, r.packet_loss_percent);
    app.db.write(|tx| {
        let (call, _) = super::for_party(tx, id, p)?;
        // The last report of a call may arrive just after hang-up; a call never answered has none.
        if !matches!(call.status, Status::Active | Status::Ended) || call.answered_at.is_none() {
            return Err(ApiError::conflict("not_answered", "Only a call that was answered has quality to report.")
                .with_extra("status", json!(call.status.as_str())));
        }
        tx.execute_cached(
            "INSERT INTO call_quality (call_id, user_id, rtt_ms, jitter_ms, packet_loss_percent, bitrate_kbps, mos, at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![call.id, p.user_id, r.rtt_ms, r.jitter_ms, r.packet_loss_percent, r.bitrate_kbps, score, now],
        )?;
        tx.execute_cached(
            "UPDATE calls SET mos_sum = mos_sum + ?2, mos_count = mos_count + 1 WHERE id = ?1",
            params![call.id, score],
        )?;
        if call.status == Status::Active {
            super::timeouts::seen(tx, &call, &p.user_id, now)?;
        }
        Ok(score)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_e_model_scores_known_conditions() {
        // A perfect network: R = 93.2 − 0.24 → MOS 4.40.
        assert_eq!(mos(0.0, 0.0, 0.0), 4.40);
        // Typical good WAN: 100 ms RTT, 10 ms jitter, no loss.
        assert_eq!(mos(100.0, 10.0, 0.0), 4.37);
        // 1 % loss costs about 4 R points.
        assert!((r_factor(100.0, 10.0, 1.0) - (93.2 - 0.024 * 80.0 - 30.0 * 1.15f64.ln())).abs() < 1e-9);
        // Past 177.3 ms one way the delay term steepens.
        assert!(r_factor(400.0, 0.0, 0.0) - r_factor(500.0, 0.0, 0.0) > 0.024 * 50.0 + 5.0);
        // Heavy loss is unusable.
        assert!(mos(50.0, 5.0, 30.0) < 2.6);
        assert_eq!(mos(60_000.0, 60_000.0, 100.0), 1.0);
        assert_eq!(mos_of_r(100.0), 4.5);
        assert_eq!(mos_of_r(-5.0), 1.0);
    }

    #[test]
    fn figures_out_of_range_are_named() {
        let r = Report { rtt_ms: -1.0, jitter_ms: f64::NAN, packet_loss_percent: 101.0, bitrate_kbps: Some(1e9) };
        let e = check(&r).unwrap_err();
        let f = e.fields.unwrap();
        assert_eq!(f.len(), 4, "{f:?}");
        assert!(check(&Report { rtt_ms: 0.0, jitter_ms: 0.0, packet_loss_percent: 100.0, bitrate_kbps: None }).is_ok());
    }
}
