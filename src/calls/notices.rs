//! The notification calls send: the callee of a call that rang out (facts: `otherName`, the
//! caller's name, and `callId`, `bookingId` for clients to open it).

use crate::notify::{Category, Kind, Texts};

pub const CALL_MISSED: Kind = Kind {
    name: "call.missed",
    category: Category::Calls,
    render: |f| {
        Texts::new("Missed call", format!("Hi {}, you missed a call from {}.", f.first_name(), f.get("otherName")))
    },
};

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_missed_call_names_the_caller_on_one_line() {
        let t = CALL_MISSED.texts("Asha Rao", &json!({"otherName": "Ravi\nKumar"}));
        assert_eq!(t.title, "Missed call");
        assert_eq!(t.body, "Hi Asha, you missed a call from Ravi Kumar.");
        assert_eq!(CALL_MISSED.category, Category::Calls);
    }
}
