//! Property tests of the HTTP layer's parsers: any bytes at all are answered (never a panic),
//! a well-formed head round-trips, and a chunked body decodes the same however it is split.

use super::body::BodyReader;
use super::parse::{find_head_end, parse_head, BodyKind};
use proptest::prelude::*;

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}"
}

fn field_value() -> impl Strategy<Value = String> {
    // Visible ASCII and inner spaces; no leading/trailing whitespace (OWS is trimmed).
    "[!-~]([ !-~]{0,30}[!-~])?"
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn any_bytes_are_answered_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = find_head_end(&bytes, 0);
        let _ = parse_head(&bytes, 1 << 20);
    }

    #[test]
    fn head_like_garbage_is_answered_without_panic(
        method in "[A-Z]{0,8}",
        target in "[ -~]{0,40}",
        version in "(HTTP/1\\.[01]|HTTP/2|[ -~]{0,9})",
        lines in proptest::collection::vec("[ -~\t]{0,40}", 0..8),
    ) {
        let mut raw = format!("{method} {target} {version}\r\n");
        for l in &lines {
            raw.push_str(l);
            raw.push_str("\r\n");
        }
        raw.push_str("\r\n");
        let _ = parse_head(raw.as_bytes(), 1 << 20);
    }

    #[test]
    fn a_well_formed_head_round_trips(
        method in "(GET|POST|PUT|PATCH|DELETE|OPTIONS)",
        segments in proptest::collection::vec("[a-z0-9_-]{1,10}", 1..5),
        query in proptest::option::of("[a-z0-9=&]{1,20}"),
        headers in proptest::collection::vec((token(), field_value()), 0..10),
        length in 0usize..5000,
    ) {
        let headers: Vec<(String, String)> = headers
            .into_iter()
            .filter(|(n, _)| {
                let n = n.to_ascii_lowercase();
                !matches!(n.as_str(), "content-length" | "transfer-encoding" | "connection" | "expect" | "host")
            })
            .collect();
        let mut target = format!("/{}", segments.join("/"));
        if let Some(q) = &query {
            target.push('?');
            target.push_str(q);
        }
        let mut raw = format!("{method} {target} HTTP/1.1\r\nHost: example.test\r\n");
        for (n, v) in &headers {
            raw.push_str(&format!("{n}: {v}\r\n"));
        }
        raw.push_str(&format!("Content-Length: {length}\r\n\r\n"));
        let end = find_head_end(raw.as_bytes(), 0);
        prop_assert_eq!(end, Ok(raw.len()));
        let head = parse_head(raw.as_bytes(), 1 << 20).expect("well-formed head");
        prop_assert_eq!(&head.method, &method);
        prop_assert_eq!(&head.target, &target);
        prop_assert_eq!(head.body, if length == 0 { BodyKind::Empty } else { BodyKind::Length(length) });
        for (n, v) in &headers {
            prop_assert!(head.headers.iter().any(|(hn, hv)| hn == n && hv == v), "header {} lost", n);
        }
        prop_assert!(head.keep_alive);
    }

    #[test]
    fn chunked_bodies_decode_the_same_however_split(
        payload in proptest::collection::vec(any::<u8>(), 0..3000),
        chunk_sizes in proptest::collection::vec(1usize..700, 1..12),
        cuts in proptest::collection::vec(1usize..97, 1..40),
    ) {
        // Encode `payload` with the generated chunk sizes, then feed it in the generated pieces.
        let mut wire = Vec::new();
        let mut rest = &payload[..];
        let mut sizes = chunk_sizes.iter().cycle();
        while !rest.is_empty() {
            let n = (*sizes.next().expect("cycle")).min(rest.len());
            wire.extend_from_slice(format!("{n:x}\r\n").as_bytes());
            wire.extend_from_slice(&rest[..n]);
            wire.extend_from_slice(b"\r\n");
            rest = &rest[n..];
        }
        wire.extend_from_slice(b"0\r\n\r\n");
        wire.extend_from_slice(b"GET /next HTTP/1.1\r\n"); // pipelined bytes stay unread
        let mut reader = BodyReader::chunked();
        let mut body = Vec::new();
        let mut at = 0;
        let mut done = false;
        let mut cut = cuts.iter().cycle();
        while !done {
            let end = (at + *cut.next().expect("cycle")).min(wire.len());
            let (used, complete) = reader.feed(&wire[at..end], &mut body, usize::MAX, 1 << 20, 8192).expect("valid chunked body");
            at += used;
            done = complete;
            prop_assert!(end < wire.len() || done || used > 0, "no progress");
        }
        prop_assert_eq!(&body, &payload);
        prop_assert_eq!(&wire[at..], b"GET /next HTTP/1.1\r\n");
    }

    #[test]
    fn any_chunked_bytes_are_answered_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..800)) {
        let mut reader = BodyReader::chunked();
        let mut body = Vec::new();
        let mut at = 0;
        while at < bytes.len() {
            match reader.feed(&bytes[at..], &mut body, usize::MAX, 4096, 512) {
                Ok((0, false)) | Ok((_, true)) | Err(_) => break,
                Ok((used, false)) => at += used,
            }
        }
        prop_assert!(body.len() <= 4096);
    }
}
