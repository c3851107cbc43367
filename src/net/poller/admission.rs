//! Who gets a connection slot. A client address (reverse proxies exempt) holds at most
//! `max_connections_per_ip` connections; the excess is answered 429 at once. At
//! `max_connections` the oldest idle keep-alive connection (between requests: never one
//! receiving a request, in a worker, or parked) is closed to make room; only when there is none
//! is the newcomer answered 503. Refusals are written by the poller and cost no worker.

use std::collections::hash_map::Entry;
use std::net::Ipv6Addr;

use super::*;

/// The unit one client is counted in: an IPv4 address, or the /64 of an IPv6 address (a single
/// host commonly holds a whole /64, so counting its addresses one by one would not bound it).
pub(super) fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !(u128::from(u64::MAX)))),
        },
        v4 => v4,
    }
}

impl Poller {
    pub(super) fn on_accept(&mut self, mut stream: TcpStream, peer: SocketAddr) {
        let _ = stream.set_nodelay(true);
        if self.over_ip_cap(peer.ip()) {
            self.stats.refused_per_ip_total.fetch_add(1, Ordering::Relaxed);
            self.refuse(stream, peer, Reject::TooManyConnections);
            return;
        }
        if self.counted >= self.cfg.max_connections && !self.shed_oldest_idle() {
            self.stats.refused_total.fetch_add(1, Ordering::Relaxed);
            self.refuse(stream, peer, Reject::Overloaded);
            return;
        }
        let Some(idx) = self.register_new(&mut stream) else { return };
        log::debug!("net: accepted {peer}");
        self.slots[idx] = Slot::Open(Box::new(Conn::accepted(stream, peer, Instant::now())));
        self.count(peer);
    }

    fn over_ip_cap(&self, ip: IpAddr) -> bool {
        let cap = self.cfg.max_connections_per_ip;
        cap > 0
            && self.per_ip.get(&client_key(ip)).is_some_and(|&n| n >= cap)
            && !self.cfg.trusted_proxies.iter().any(|c| c.contains(ip))
    }

    /// A connection from `peer` now counts against the caps.
    pub(super) fn count(&mut self, peer: SocketAddr) {
        self.counted += 1;
        *self.per_ip.entry(client_key(peer.ip())).or_insert(0) += 1;
        self.sync_open();
    }

    /// A connection from `peer` no longer counts (closed, or only lingering).
    pub(super) fn uncount(&mut self, peer: SocketAddr) {
        self.counted -= 1;
        if let Entry::Occupied(mut e) = self.per_ip.entry(client_key(peer.ip())) {
            *e.get_mut() -= 1;
            if *e.get() == 0 {
                e.remove(); // the table holds only addresses with connections open
            }
        }
        self.sync_open();
    }

    /// Records that the connection in `idx` went idle at `since` (its place in the shedding order).
    pub(super) fn note_idle(&mut self, idx: usize, since: Instant) {
        self.idle_order.push_back((since, idx));
        if self.idle_order.len() > 2 * self.cfg.max_connections + 64 {
            let slots = &self.slots;
            self.idle_order.retain(|&(since, idx)| is_idle_since(slots.get(idx), since));
        }
    }

    /// Closes the oldest connection that is idle between requests; false if there is none.
    fn shed_oldest_idle(&mut self) -> bool {
        while let Some((since, idx)) = self.idle_order.pop_front() {
            let slot = self.slots.get(idx);
            if !is_idle_since(slot, since) {
                continue;
            }
            let Some(Slot::Open(conn)) = slot else {
                continue;
            };
            // Bytes the poller has not read yet mean a request is on its way: not idle (its
            // readable event drives it). A client that already left just frees its slot.
            let mut probe = [0u8; 1];
            match conn.stream.peek(&mut probe) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Ok(n) if n > 0 => continue,
                Ok(_) | Err(_) => {
                    self.close(idx);
                    return true;
                }
            }
            log::debug!("net: closing the oldest idle connection ({}) to make room", conn.peer);
            self.stats.shed_idle_total.fetch_add(1, Ordering::Relaxed);
            self.close(idx);
            return true;
        }
        false
    }

    /// Answers `why` at once and closes (lingering briefly if there is room, so the client
    /// reads the answer rather than a reset).
    fn refuse(&mut self, mut stream: TcpStream, peer: SocketAddr, why: Reject) {
        log::debug!("net: refusing {peer}: {why:?}");
        let out = serialize_reject(reject_response(&self.reject, why));
        if self.lingering >= self.cfg.max_connections {
            let _ = stream.write(&out);
            let _ = stream.shutdown(Shutdown::Write);
            return;
        }
        let Some(idx) = self.register_new(&mut stream) else { return };
        let mut conn = Conn::accepted(stream, peer, Instant::now());
        conn.counted = false;
        conn.start_closing(out, Instant::now() + LINGER);
        self.slots[idx] = Slot::Open(Box::new(conn));
        self.lingering += 1;
        self.drive_closing(idx);
    }
}

/// Whether `slot` holds a counted connection that has been idle since exactly `since`.
fn is_idle_since(slot: Option<&Slot>, since: Instant) -> bool {
    matches!(slot, Some(Slot::Open(c)) if c.counted && matches!(c.phase, Phase::Idle { since: s } if s == since))
}

#[cfg(test)]
mod tests {
    use super::client_key;
    use std::net::IpAddr;

    #[test]
    fn clients_are_ipv4_addresses_or_ipv6_slash_64s() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(client_key(ip("10.1.2.3")), ip("10.1.2.3"));
        assert_eq!(client_key(ip("::ffff:10.1.2.3")), ip("10.1.2.3"));
        assert_eq!(client_key(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd")), ip("2001:db8:1:2::"));
        assert_ne!(client_key(ip("2001:db8:1:3::1")), client_key(ip("2001:db8:1:2::1")));
    }
}
