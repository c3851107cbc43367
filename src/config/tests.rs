use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn with_file(text: &str) -> (tempdir::Dir, Overrides) {
    let dir = tempdir::Dir::new();
    let path = dir.0.join("c.toml");
    std::fs::write(&path, text).unwrap();
    let o = Overrides { config_file: Some(path), ..Default::default() };
    (dir, o)
}

mod tempdir {
    pub struct Dir(pub std::path::PathBuf);
    impl Dir {
        pub fn new() -> Dir {
            let p = std::env::temp_dir().join(format!("bx-cfg-{}-{}", std::process::id(), rand_suffix()));
            std::fs::create_dir_all(&p).unwrap();
            Dir(p)
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    fn rand_suffix() -> u64 {
        let mut b = [0u8; 8];
        getrandom::fill(&mut b).unwrap();
        u64::from_le_bytes(b)
    }
}

#[test]
fn embedded_defaults_match_config_md() {
    let c = Config::defaults();
    assert_eq!(c.server.listen, "127.0.0.1:8080");
    assert_eq!(c.server.workers, 64);
    assert_eq!(c.server.max_connections, 1024);
    assert_eq!(c.server.body_limit_bytes, 1_048_576);
    assert_eq!(c.server.max_connections_per_ip, 64);
    assert_eq!(c.server.max_body_memory_bytes, 64 << 20);
    assert_eq!(c.auth.access_ttl_seconds, 900);
    assert_eq!(c.business.timezone, "Asia/Kolkata");
    assert_eq!(c.sms.provider, "console");
    assert_eq!(c.payments.gateway, "sandbox");
    assert_eq!(c.limits.api_per_user_per_minute, 600);
    assert_eq!(c.limits.contact_per_ip_per_hour, 5);
    assert_eq!(c.email.operator, "");
    assert_eq!(c.database_path(), std::path::PathBuf::from("./data/buildxpert.db"));
}

#[test]
fn precedence_defaults_file_env_flags() {
    let (_d, mut o) = with_file("[server]\nworkers = 8\nlisten = \"127.0.0.1:9000\"\n[log]\nlevel = \"debug\"\n");
    let e = env(&[("BUILDXPERT_SERVER__LISTEN", "127.0.0.1:9100"), ("BUILDXPERT_LOG__LEVEL", "warn")]);
    let c = Config::load_from(&o, &e).unwrap();
    assert_eq!(c.server.workers, 8, "file beats default");
    assert_eq!(c.server.listen, "127.0.0.1:9100", "env beats file");
    assert_eq!(c.log.level, "warn");
    o.listen = Some("127.0.0.1:0".into());
    let c = Config::load_from(&o, &e).unwrap();
    assert_eq!(c.server.listen, "127.0.0.1:0", "flag beats env");
}

#[test]
fn env_values_are_typed_by_the_default() {
    let e = env(&[
        ("BUILDXPERT_SERVER__WORKERS", "12"),
        ("BUILDXPERT_SERVER__CORS_ORIGINS", "https://a.example, https://b.example"),
        ("BUILDXPERT_SMS__TWILIO__BASE_URL", "http://127.0.0.1:1"),
        ("BUILDXPERT_CALLS__STUN_URLS", "[\"stun:a:3478\"]"),
        ("BUILDXPERT_UNRELATED", "ignored: no double underscore"),
    ]);
    let c = Config::load_from(&Overrides::default(), &e).unwrap();
    assert_eq!(c.server.workers, 12);
    assert_eq!(c.server.cors_origins, vec!["https://a.example", "https://b.example"]);
    assert_eq!(c.sms.twilio.base_url, "http://127.0.0.1:1");
    assert_eq!(c.calls.stun_urls, vec!["stun:a:3478"]);
}

#[test]
fn unknown_keys_and_bad_values_name_the_key() {
    let (_d, o) = with_file("[server]\nwokers = 8\n");
    let err = Config::load_from(&o, &[]).unwrap_err();
    assert!(err.0.contains("server.wokers"), "{err}");

    let (_d, o) = with_file("[server]\nworkers = \"many\"\n");
    let err = Config::load_from(&o, &[]).unwrap_err();
    assert!(err.0.contains("server.workers"), "{err}");

    let (_d, o) = with_file("[sms]\nprovider = \"pigeon\"\n");
    let err = Config::load_from(&o, &[]).unwrap_err();
    assert!(err.0.contains("sms.provider"), "{err}");

    let err = Config::load_from(&Overrides::default(), &env(&[("BUILDXPERT_SERVER__NOPE", "1")])).unwrap_err();
    assert!(err.0.contains("server.nope"), "{err}");

    let err = Config::load_from(&Overrides::default(), &env(&[("BUILDXPERT_SERVER__WORKERS", "x")])).unwrap_err();
    assert!(err.0.contains("server.workers"), "{err}");

    let o = Overrides { listen: Some("nowhere".into()), ..Default::default() };
    let err = Config::load_from(&o, &[]).unwrap_err();
    assert!(err.0.contains("server.listen"), "{err}");

    let (_d, o) = with_file("[[webhooks]]\nurl = \"https://x\"\nsecret = \"nope\"\n");
    let err = Config::load_from(&o, &[]).unwrap_err();
    assert!(err.0.contains("webhooks[0].secret"), "{err}");

    let (_d, o) = with_file("[[webhooks]]\nurl = \"https://x\"\nsecret = \"whsec_abc\"\nfoo = 1\n");
    let err = Config::load_from(&o, &[]).unwrap_err();
    assert!(err.0.contains("webhooks[0].foo"), "{err}");
}

#[test]
fn the_operator_address_is_an_address_or_empty() {
    for bad in ["ops", "@x.example", "ops@", "a@b@c"] {
        let err = Config::load_from(&Overrides::default(), &env(&[("BUILDXPERT_EMAIL__OPERATOR", bad)])).unwrap_err();
        assert!(err.0.contains("email.operator"), "{bad}: {err}");
    }
    let c = Config::load_from(&Overrides::default(), &env(&[("BUILDXPERT_EMAIL__OPERATOR", "ops@x.example")])).unwrap();
    assert_eq!(c.email.operator, "ops@x.example");
}

#[test]
fn body_memory_must_hold_one_body_at_the_limit() {
    let e = env(&[
        ("BUILDXPERT_SERVER__BODY_LIMIT_BYTES", "2000000"),
        ("BUILDXPERT_SERVER__MAX_BODY_MEMORY_BYTES", "1999999"),
    ]);
    let err = Config::load_from(&Overrides::default(), &e).unwrap_err();
    assert!(err.0.contains("server.max_body_memory_bytes"), "{err}");
    let e = env(&[
        ("BUILDXPERT_SERVER__BODY_LIMIT_BYTES", "2000000"),
        ("BUILDXPERT_SERVER__MAX_BODY_MEMORY_BYTES", "2000000"),
    ]);
    assert!(Config::load_from(&Overrides::default(), &e).is_ok());
    let e = env(&[("BUILDXPERT_SERVER__MAX_CONNECTIONS_PER_IP", "0")]);
    assert_eq!(Config::load_from(&Overrides::default(), &e).unwrap().server.max_connections_per_ip, 0);
}

#[test]
fn missing_config_file_is_an_error() {
    let o = Overrides { config_file: Some("/nonexistent/buildxpert.toml".into()), ..Default::default() };
    assert!(Config::load_from(&o, &[]).unwrap_err().0.contains("/nonexistent/buildxpert.toml"));
}

#[test]
fn secrets_are_masked_when_printed() {
    let e = env(&[
        ("BUILDXPERT_METRICS__TOKEN", "supersecrettoken"),
        ("BUILDXPERT_PAYMENTS__STRIPE__SECRET_KEY", "sk_live_zzz"),
    ]);
    let tree = Config::effective_tree(&Overrides::default(), &e).unwrap();
    let shown = Config::masked_toml(&tree);
    assert!(!shown.contains("supersecrettoken") && !shown.contains("sk_live_zzz"));
    assert!(shown.contains("********"));
    assert!(shown.contains("listen = \"127.0.0.1:8080\""));
}

#[test]
fn cidr_matching() {
    let c = Cidr::parse("10.0.0.0/8").unwrap();
    assert!(c.contains("10.1.2.3".parse().unwrap()));
    assert!(!c.contains("11.0.0.1".parse().unwrap()));
    assert!(c.contains("::ffff:10.0.0.1".parse().unwrap()));
    let one = Cidr::parse("127.0.0.1").unwrap();
    assert!(one.contains("127.0.0.1".parse().unwrap()) && !one.contains("127.0.0.2".parse().unwrap()));
    assert!(Cidr::parse("::1/128").unwrap().contains("::1".parse().unwrap()));
    assert!(Cidr::parse("10.0.0.0/33").is_none() && Cidr::parse("banana").is_none());
    assert!(Cidr::parse("0.0.0.0/0").unwrap().contains("8.8.8.8".parse().unwrap()));
}
