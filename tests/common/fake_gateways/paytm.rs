//! The fake Paytm (see `mod.rs` for what every fake does).

use super::*;

#[derive(Default)]
struct PaytmOrder {
    order_id: String,
    amount: String,
    /// TXN_SUCCESS | TXN_FAILURE | PENDING (initiated, not paid).
    status: String,
    txn_id: String,
    refunds: Vec<Value>,
}

#[derive(Default)]
struct PaytmState {
    orders: Vec<PaytmOrder>,
    initiate_bodies: Vec<Value>,
}

pub struct FakePaytm {
    pub server: FakeServer,
    pub url: String,
    pub mid: String,
    pub merchant_key: String,
    shared: Arc<Shared<PaytmState>>,
}

/// A signed Paytm answer: `{"head": {..., "signature"}, "body": <body>}` with the checksum over the
/// exact body text.
fn paytm_answer(key: &str, body: &Value) -> Reply {
    let text = body.to_string();
    let sig = paytm_checksum::generate(&text, key).expect("16-char key");
    let raw = format!(
        r#"{{"head":{{"responseTimestamp":"1700000000000","version":"v1","signature":"{sig}"}},"body":{text}}}"#
    );
    Reply { status: 200, content_type: "application/json", headers: Vec::new(), body: raw }
}

fn paytm_result(status: &str, code: &str, msg: &str) -> Value {
    json!({"resultStatus": status, "resultCode": code, "resultMsg": msg})
}

impl FakePaytm {
    pub fn start() -> FakePaytm {
        let (mid, key) = ("FAKEMID7769XXXX93833".to_string(), "FAKEKEY_16_CHARS".to_string());
        let shared = Shared::new(PaytmState::default());
        let (sh, m, k) = (shared.clone(), mid.clone(), key.clone());
        let server = FakeServer::start(move |r, _| {
            if let Some(code) = sh.failing() {
                return Reply {
                    status: code,
                    content_type: "text/html",
                    headers: Vec::new(),
                    body: "<html>Service Unavailable</html>".into(),
                };
            }
            paytm_handle(&sh, &m, &k, r)
        });
        FakePaytm { url: server.url.clone(), server, mid, merchant_key: key, shared }
    }

    pub fn config(&self) -> buildxpert::config::Paytm {
        buildxpert::config::Paytm {
            mid: self.mid.clone(),
            merchant_key: self.merchant_key.clone(),
            website: "WEBSTAGING".into(),
            api_base: self.url.clone(),
        }
    }

    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("BUILDXPERT_PAYMENTS__GATEWAY".into(), "paytm".into()),
            ("BUILDXPERT_PAYMENTS__PAYTM__MID".into(), self.mid.clone()),
            ("BUILDXPERT_PAYMENTS__PAYTM__MERCHANT_KEY".into(), self.merchant_key.clone()),
            ("BUILDXPERT_PAYMENTS__PAYTM__WEBSITE".into(), "WEBSTAGING".into()),
            ("BUILDXPERT_PAYMENTS__PAYTM__API_BASE".into(), self.url.clone()),
        ]
    }

    pub fn fail_with(&self, status: Option<u16>) {
        *self.shared.fail.lock().unwrap_or_else(|p| p.into_inner()) = status;
    }
    pub fn received(&self) -> Vec<Recorded> {
        self.server.received()
    }
    /// The `body` objects of every initiateTransaction received.
    pub fn initiated(&self) -> Vec<Value> {
        self.shared.st().initiate_bodies.clone()
    }
    pub fn txn_id(&self, order_id: &str) -> Option<String> {
        self.shared
            .st()
            .orders
            .iter()
            .find(|o| o.order_id == order_id)
            .map(|o| o.txn_id.clone())
            .filter(|t| !t.is_empty())
    }
    pub fn refunds(&self, order_id: &str) -> Vec<Value> {
        self.shared.st().orders.iter().find(|o| o.order_id == order_id).map(|o| o.refunds.clone()).unwrap_or_default()
    }

    /// Paytm settles the order's refunds: its refund status API answers `status` ("TXN_SUCCESS" /
    /// "TXN_FAILURE") for them from now on (until then "PENDING", as `refund/apply` did).
    pub fn settle_refunds(&self, order_id: &str, status: &str) {
        let mut st = self.shared.st();
        let o = st.orders.iter_mut().find(|o| o.order_id == order_id).expect("initiated order");
        for r in &mut o.refunds {
            r["resultInfo"] = if status == "TXN_SUCCESS" {
                paytm_result("TXN_SUCCESS", "10", "Refund Successfull")
            } else {
                paytm_result("TXN_FAILURE", "600", "Refund failed")
            };
        }
    }

    /// The payer finishes (or fails) on Paytm's page: the order's status changes, and the
    /// browser's callback form (with CHECKSUMHASH) is returned.
    pub fn callback_form(&self, order_id: &str, success: bool) -> Delivery {
        let (amount, txn) = {
            let mut st = self.shared.st();
            let o = st.orders.iter_mut().find(|o| o.order_id == order_id).expect("initiated order");
            if o.status != "TXN_SUCCESS" {
                o.status = if success { "TXN_SUCCESS" } else { "TXN_FAILURE" }.into();
                o.txn_id = format!("2026{}", &rand_id("")[..12]);
            }
            (o.amount.clone(), o.txn_id.clone())
        };
        let (status, code, msg) = if success {
            ("TXN_SUCCESS", "01", "Txn Success")
        } else {
            ("TXN_FAILURE", "227", "Your payment has been declined by your bank.")
        };
        let fields: Vec<(String, String)> = [
            ("BANKNAME", "State Bank of India"),
            ("BANKTXNID", if success { "777001234567" } else { "" }),
            ("CURRENCY", "INR"),
            ("GATEWAYNAME", "SBI"),
            ("MID", &self.mid),
            ("ORDERID", order_id),
            ("PAYMENTMODE", "UPI"),
            ("RESPCODE", code),
            ("RESPMSG", msg),
            ("STATUS", status),
            ("TXNAMOUNT", &amount),
            ("TXNDATE", "2026-12-04 21:00:00.0"),
            ("TXNID", &txn),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        self.form(fields)
    }

    /// Any callback form, with a correct CHECKSUMHASH added.
    pub fn form(&self, mut fields: Vec<(String, String)>) -> Delivery {
        let sum = paytm_checksum::generate_form(&fields, &self.merchant_key).expect("16-char key");
        fields.push(("CHECKSUMHASH".into(), sum));
        let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let body = buildxpert::outbound::form_encode(&pairs).into_bytes();
        (vec![("Content-Type".into(), "application/x-www-form-urlencoded".into())], body)
    }
}

fn paytm_handle(sh: &Shared<PaytmState>, mid: &str, key: &str, r: &Recorded) -> Reply {
    let raw = String::from_utf8_lossy(&r.body).into_owned();
    let (Ok(v), Some(body_text)) = (serde_json::from_str::<Value>(&raw), wire::raw_member(&raw, "body")) else {
        return paytm_answer(key, &json!({"resultInfo": paytm_result("F", "501", "System Error")}));
    };
    let sig = v.pointer("/head/signature").and_then(Value::as_str).unwrap_or("");
    if !paytm_checksum::verify(body_text, key, sig) {
        return paytm_answer(key, &json!({"resultInfo": paytm_result("F", "2005", "Checksum provided is invalid")}));
    }
    let b = &v["body"];
    if b["mid"] != mid {
        return paytm_answer(key, &json!({"resultInfo": paytm_result("F", "1006", "Invalid MID")}));
    }
    let path = r.path.split('?').next().unwrap_or("");
    let q = form_map(r.query.as_bytes());
    let order_id = b["orderId"].as_str().unwrap_or("").to_string();
    let mut st = sh.st();
    match path {
        "/theia/api/v1/initiateTransaction" => {
            if q.get("mid").map(String::as_str) != Some(mid) || q.get("orderId") != Some(&order_id) {
                return paytm_answer(
                    key,
                    &json!({"resultInfo": paytm_result("F", "1007", "Missing mandatory element")}),
                );
            }
            let amount = b.pointer("/txnAmount/value").and_then(Value::as_str).unwrap_or("");
            if wire::decimal_to_minor(amount).is_none()
                || b["requestType"] != "Payment"
                || b["callbackUrl"].as_str().is_none()
            {
                return paytm_answer(
                    key,
                    &json!({"resultInfo": paytm_result("F", "1007", "Missing mandatory element")}),
                );
            }
            if st.orders.iter().any(|o| o.order_id == order_id) {
                return paytm_answer(key, &json!({"resultInfo": paytm_result("F", "325", "Duplicate Order Id")}));
            }
            st.initiate_bodies.push(b.clone());
            st.orders.push(PaytmOrder {
                order_id,
                amount: amount.into(),
                status: "PENDING".into(),
                ..Default::default()
            });
            paytm_answer(
                key,
                &json!({"resultInfo": paytm_result("S", "0000", "Success"), "txnToken": rand_id("f0a1"), "isPromoCodeValid": false, "authenticated": false}),
            )
        }
        "/v3/order/status" => match st.orders.iter().find(|o| o.order_id == order_id) {
            None => paytm_answer(key, &json!({"resultInfo": paytm_result("TXN_FAILURE", "334", "Invalid Order Id.")})),
            Some(o) => {
                let result = match o.status.as_str() {
                    "TXN_SUCCESS" => paytm_result("TXN_SUCCESS", "01", "Txn Success"),
                    "TXN_FAILURE" => paytm_result("TXN_FAILURE", "227", "Your payment has been declined by your bank."),
                    _ => paytm_result("PENDING", "402", "Looks like the payment is not complete. Please wait while we confirm the status with your bank."),
                };
                let refunded: i64 =
                    o.refunds.iter().filter_map(|x| x["refundAmount"].as_str().and_then(wire::decimal_to_minor)).sum();
                paytm_answer(
                    key,
                    &json!({"resultInfo": result, "txnId": o.txn_id, "bankTxnId": "777001234567", "orderId": o.order_id,
                            "txnAmount": o.amount, "txnType": "SALE", "gatewayName": "SBI", "bankName": "State Bank of India",
                            "mid": mid, "paymentMode": "UPI", "refundAmt": wire::minor_to_decimal(refunded), "txnDate": "2026-12-04 21:00:00.0"}),
                )
            }
        },
        "/refund/apply" => {
            let Some(o) = st.orders.iter_mut().find(|o| o.order_id == order_id) else {
                return paytm_answer(
                    key,
                    &json!({"resultInfo": paytm_result("TXN_FAILURE", "631", "Record not found")}),
                );
            };
            if b["txnType"] != "REFUND" || b["txnId"] != o.txn_id.as_str() || o.status != "TXN_SUCCESS" {
                return paytm_answer(
                    key,
                    &json!({"resultInfo": paytm_result("TXN_FAILURE", "629", "Refund is not allowed for this transaction")}),
                );
            }
            let amount = b["refundAmount"].as_str().and_then(wire::decimal_to_minor).unwrap_or(0);
            let paid = wire::decimal_to_minor(&o.amount).unwrap_or(0);
            let refunded: i64 =
                o.refunds.iter().filter_map(|x| x["refundAmount"].as_str().and_then(wire::decimal_to_minor)).sum();
            if amount <= 0 || amount > paid - refunded {
                return paytm_answer(
                    key,
                    &json!({"resultInfo": paytm_result("TXN_FAILURE", "619", "Invalid refund amount")}),
                );
            }
            let ref_id = b["refId"].as_str().unwrap_or("").to_string();
            if o.refunds.iter().any(|x| x["refId"] == ref_id.as_str()) {
                return paytm_answer(
                    key,
                    &json!({"resultInfo": paytm_result("TXN_FAILURE", "617", "Refund Already Raised (If merchant repeated their request within the 10 minutes after initiate the first refund request)")}),
                );
            }
            let rf = json!({"txnTimestamp": "2026-12-04 21:10:00.0", "orderId": o.order_id, "mid": mid, "refId": ref_id,
                            "resultInfo": paytm_result("PENDING", "601", "Refund request was raised for this transaction. But it is pending state"),
                            "refundId": rand_id("2026"), "txnId": o.txn_id, "refundAmount": wire::minor_to_decimal(amount)});
            o.refunds.push(rf.clone());
            paytm_answer(key, &rf)
        }
        "/v2/refund/status" => {
            let found = st
                .orders
                .iter()
                .find(|o| o.order_id == order_id)
                .and_then(|o| o.refunds.iter().find(|x| x["refId"] == b["refId"]).cloned());
            match found {
                None => {
                    paytm_answer(key, &json!({"resultInfo": paytm_result("TXN_FAILURE", "631", "Record not found")}))
                }
                Some(rf) => paytm_answer(
                    key,
                    &json!({"orderId": rf["orderId"], "mid": mid, "refId": rf["refId"], "refundId": rf["refundId"],
                            "txnId": rf["txnId"], "refundAmount": rf["refundAmount"], "resultInfo": rf["resultInfo"]}),
                ),
            }
        }
        _ => {
            Reply { status: 404, content_type: "text/html", headers: Vec::new(), body: "<html>Not Found</html>".into() }
        }
    }
}
