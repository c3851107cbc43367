//! Password hashing with Argon2id (OWASP minimum: 19 MiB, t=2, p=1) as PHC strings.
//!
//! Hashing is deliberately expensive and memory hungry (measured here: 15-20 ms and ~19 MiB a
//! hash, and the default allocator kept ~210 MiB resident per concurrent hash). So hashes run on a
//! small fixed number of slots — one per core — each reusing its memory block: at most that many
//! hash at once and RSS stays flat however many logins arrive. Blocks are allocated on first use
//! and released by [`Hasher::trim`] once hashing has been idle (the `hasher-trim` job), so an idle
//! server holds none.
//!
//! Requests wait for a slot in a bounded queue (`auth.max_hash_queue`): past it the `try_*`
//! calls answer [`Busy`] at once (the caller answers 503 `unavailable` with `Retry-After`), so a
//! storm of logins holds at most `slots + max_queue` worker threads and the other routes keep theirs.

use argon2::{Algorithm, Argon2, Block, Params, Version};
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use base64::Engine;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

const M_COST: u32 = 19 * 1024;
const T_COST: u32 = 2;
const P_COST: u32 = 1;
const OUT_LEN: usize = 32;
/// Hashes with more memory than this are refused rather than allocated (a hostile PHC string).
const MAX_M_COST: u32 = 64 * 1024;

/// Every hash slot is taken and `auth.max_hash_queue` requests already wait for one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

struct State {
    /// Memory blocks not in use (at most `slots`; emptied by [`Hasher::trim`]).
    free: Vec<Vec<Block>>,
    in_use: usize,
    waiting: usize,
    last_release: Instant,
}

pub struct Hasher {
    slots: usize,
    /// Requests allowed to wait for a slot; `usize::MAX`: unbounded.
    max_queue: usize,
    state: Mutex<State>,
    available: Condvar,
}

/// One slot held, with its memory; returned on drop.
pub struct Slot<'a> {
    hasher: &'a Hasher,
    mem: Vec<Block>,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mem = std::mem::take(&mut self.mem);
        let mut st = self.hasher.lock();
        st.in_use -= 1;
        if !mem.is_empty() {
            st.free.push(mem);
        }
        st.last_release = Instant::now();
        drop(st);
        self.hasher.available.notify_one();
    }
}

impl Hasher {
    /// `slots` concurrent hashes at most (about the core count); waiting is unbounded (CLI use).
    pub fn new(slots: usize) -> Hasher {
        Hasher::with_queue(slots, usize::MAX)
    }

    /// `slots` concurrent hashes, at most `max_queue` requests waiting for one.
    pub fn with_queue(slots: usize, max_queue: usize) -> Hasher {
        Hasher {
            slots: slots.max(1),
            max_queue,
            state: Mutex::new(State { free: Vec::new(), in_use: 0, waiting: 0, last_release: Instant::now() }),
            available: Condvar::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Concurrent hashes at most.
    pub fn slots(&self) -> usize {
        self.slots
    }

    /// Requests waiting for a slot now.
    pub fn waiting(&self) -> usize {
        self.lock().waiting
    }

    /// Memory blocks held (in use or kept for reuse).
    pub fn blocks_held(&self) -> usize {
        let st = self.lock();
        st.free.len() + st.in_use
    }

    /// Takes a slot, waiting for one; `bounded`: [`Busy`] instead of waiting past `max_queue`.
    fn acquire(&self, bounded: bool) -> Result<Slot<'_>, Busy> {
        let mut st = self.lock();
        if st.in_use >= self.slots {
            if bounded && st.waiting >= self.max_queue {
                return Err(Busy);
            }
            st.waiting += 1;
            while st.in_use >= self.slots {
                st = self.available.wait(st).unwrap_or_else(|p| p.into_inner());
            }
            st.waiting -= 1;
        }
        st.in_use += 1;
        let mem = st.free.pop().unwrap_or_default();
        Ok(Slot { hasher: self, mem })
    }

    /// Holds one slot until the guard drops, waiting without bound (tests fill the slots with it).
    pub fn reserve(&self) -> Slot<'_> {
        match self.acquire(false) {
            Ok(s) => s,
            Err(Busy) => unreachable!("an unbounded wait is never busy"),
        }
    }

    /// Releases the memory blocks when no hash has run for `idle` (the `hasher-trim` job), and
    /// hands the freed memory back to the OS.
    pub fn trim(&self, idle: Duration) -> usize {
        let freed = {
            let mut st = self.lock();
            if st.in_use > 0 || st.free.is_empty() || st.last_release.elapsed() < idle {
                return 0;
            }
            std::mem::take(&mut st.free)
        };
        let n = freed.len();
        drop(freed);
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: malloc_trim only returns free heap pages to the kernel; it touches no live allocation.
        unsafe {
            libc::malloc_trim(0);
        }
        n
    }

    fn with_memory<T>(&self, bounded: bool, blocks: u32, f: impl FnOnce(&mut [Block]) -> T) -> Result<T, Busy> {
        let mut slot = self.acquire(bounded)?;
        if slot.mem.len() < blocks as usize {
            slot.mem.resize(blocks as usize, Block::default());
        }
        Ok(f(&mut slot.mem[..blocks as usize]))
    }

    fn compute(
        &self,
        bounded: bool,
        password: &[u8],
        salt: &[u8],
        m: u32,
        t: u32,
        p: u32,
    ) -> Result<Option<[u8; OUT_LEN]>, Busy> {
        let Ok(params) = Params::new(m, t, p, Some(OUT_LEN)) else { return Ok(None) };
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let blocks = argon.params().block_count() as u32;
        let mut out = [0u8; OUT_LEN];
        let r = self
            .with_memory(bounded, blocks, |mem| argon.hash_password_into_with_memory(password, salt, &mut out, mem))?;
        Ok(r.ok().map(|_| out))
    }

    fn hash_in(&self, bounded: bool, password: &str) -> Result<String, Busy> {
        let mut salt = [0u8; 16];
        // The OS RNG does not fail on Linux; a zero salt would still hash correctly.
        let _ = getrandom::fill(&mut salt);
        let out = self.compute(bounded, password.as_bytes(), &salt, M_COST, T_COST, P_COST)?.unwrap_or([0; OUT_LEN]);
        Ok(format!("$argon2id$v=19$m={M_COST},t={T_COST},p={P_COST}${}${}", B64.encode(salt), B64.encode(out)))
    }

    /// A PHC string: `$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`; waits for a slot without bound.
    pub fn hash(&self, password: &str) -> String {
        match self.hash_in(false, password) {
            Ok(s) => s,
            Err(Busy) => unreachable!("an unbounded wait is never busy"),
        }
    }

    /// [`Hasher::hash`] for a request: [`Busy`] when the queue for a slot is full.
    pub fn try_hash(&self, password: &str) -> Result<String, Busy> {
        self.hash_in(true, password)
    }

    /// True when `password` matches the PHC string; false for any malformed string. Waits for a
    /// slot without bound.
    pub fn verify(&self, password: &str, phc: &str) -> bool {
        self.verify_in(false, password, phc).unwrap_or(false)
    }

    /// [`Hasher::verify`] for a request: [`Busy`] when the queue for a slot is full.
    pub fn try_verify(&self, password: &str, phc: &str) -> Result<bool, Busy> {
        self.verify_in(true, password, phc)
    }

    fn verify_in(&self, bounded: bool, password: &str, phc: &str) -> Result<bool, Busy> {
        let parts: Vec<&str> = phc.split('$').collect();
        let [_, "argon2id", "v=19", params, salt, hash] = parts.as_slice() else { return Ok(false) };
        let mut m = 0;
        let mut t = 0;
        let mut p = 0;
        for kv in params.split(',') {
            match kv.split_once('=') {
                Some(("m", v)) => m = v.parse().unwrap_or(0),
                Some(("t", v)) => t = v.parse().unwrap_or(0),
                Some(("p", v)) => p = v.parse().unwrap_or(0),
                _ => return Ok(false),
            }
        }
        if m == 0 || m > MAX_M_COST || t == 0 || t > 10 || p != 1 {
            return Ok(false);
        }
        let (Ok(salt), Ok(expected)) = (B64.decode(salt), B64.decode(hash)) else { return Ok(false) };
        Ok(match self.compute(bounded, password.as_bytes(), &salt, m, t, p)? {
            Some(out) => expected.len() == OUT_LEN && constant_time_eq(&out, &expected),
            None => false,
        })
    }

    /// Spends the same work as a real verification (unknown user: equal timing, no enumeration);
    /// [`Busy`] like [`Hasher::try_verify`].
    pub fn try_verify_dummy(&self, password: &str) -> Result<(), Busy> {
        // A fixed PHC string (salt and hash are never matched, only the work counts): no hash is
        // spent, or memory held, to make one.
        const DUMMY: &str =
            "$argon2id$v=19$m=19456,t=2,p=1$ZHVtbXktc2FsdC0xNg$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        self.try_verify(password, DUMMY).map(|_| ())
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
        let st = h.lock();
        assert_eq!(st.in_use, 0, "every slot returned");
        assert!(st.free.len() <= 2, "at most one block a slot");
        drop(st);
        let held = h.blocks_held();
        assert!((1..=2).contains(&held), "{held}");
        assert_eq!(h.trim(Duration::ZERO), held);
        assert_eq!(h.blocks_held(), 0, "trimmed when idle");
        assert!(h.verify("x", &h.hash("x")), "hashes again after a trim");
    }

    #[test]
    fn the_queue_for_a_slot_is_bounded() {
        let h = std::sync::Arc::new(Hasher::with_queue(1, 1));
        let phc = h.hash("password-1");
        let held = h.reserve();
        let waiter = {
            let h = h.clone();
            let phc = phc.clone();
            std::thread::spawn(move || h.try_verify("password-1", &phc))
        };
        while h.waiting() < 1 {
            std::thread::yield_now();
        }
        assert_eq!(h.try_verify("password-1", &phc), Err(Busy), "the queue is full: at once");
        assert_eq!(h.try_hash("password-2"), Err(Busy));
        assert_eq!(h.try_verify_dummy("x"), Err(Busy));
        drop(held);
        assert_eq!(waiter.join().unwrap(), Ok(true), "the queued one ran");
        assert_eq!(h.try_verify("password-1", &phc), Ok(true));
        assert_eq!(h.try_verify_dummy("x"), Ok(()));
    }
}
