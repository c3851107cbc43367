//! The poller's handling of parked requests: taking them over from workers, watching their
//! sockets, waking or timing them out, and submitting their resume to the worker pool.

use super::*;

impl Poller {
    /// Takes over a request a worker parked (its slot is `InWorker`, not counted in
    /// `in_worker` any more). A park already woken, or arriving during shutdown, is resumed at
    /// once.
    pub(super) fn take_park(
        &mut self,
        idx: usize,
        std_stream: std::net::TcpStream,
        peer: SocketAddr,
        leftover: Vec<u8>,
        rec: Box<ParkRecord>,
    ) {
        if self.pool_closed {
            log::debug!("net: dropping a request parked after the shutdown grace ({peer})");
            rec.state.fire();
            self.stats.parked_dropped_total.fetch_add(1, Ordering::Relaxed);
            let _ = std_stream.shutdown(Shutdown::Both);
            self.release_in_worker(idx);
            return;
        }
        if self.shutdown_deadline.is_some() {
            let timed_out = !rec.state.fire();
            self.submit_resume(idx, std_stream, peer, leftover, rec, timed_out);
            return;
        }
        let mut stream = TcpStream::from_std(std_stream);
        if let Err(e) = self.poll.registry().register(&mut stream, Token(idx + FIRST_CONN), Interest::READABLE) {
            log::warn!("net: cannot register a parked connection: {e}");
            rec.state.fire();
            self.stats.parked_dropped_total.fetch_add(1, Ordering::Relaxed);
            self.release_in_worker(idx);
            return;
        }
        // Parked connections are many and long-lived: hold no buffer unless there is input.
        let buf = if leftover.is_empty() {
            Vec::new()
        } else {
            let mut b = leftover;
            b.shrink_to_fit();
            b
        };
        let (deadline, id) = (rec.parked.deadline, rec.state.id);
        let woken = rec.state.has_fired();
        self.slots[idx] = Slot::Parked(Box::new(ParkedConn { stream, peer, buf, rec }));
        self.parked += 1;
        self.sync_parked();
        if woken {
            // The wake came while the request was on its way here; its message was ignored.
            self.resume_parked(idx, false);
            return;
        }
        self.park_deadlines.push(Reverse((deadline, idx, id)));
        self.drive_parked(idx);
    }

    /// Reads what a parked connection's client sent (buffering it for after the response)
    /// and drops the park if the client closed the connection.
    pub(super) fn drive_parked(&mut self, idx: usize) {
        let cap = self.cfg.max_header_bytes + 1;
        loop {
            let Some(Slot::Parked(pc)) = self.slots.get_mut(idx) else {
                return;
            };
            // Full: further input waits in the socket until the response is out.
            let allowance = cap.saturating_sub(pc.buf.len()).min(self.scratch.len());
            if allowance == 0 {
                return;
            }
            match pc.stream.read(&mut self.scratch[..allowance]) {
                Ok(0) => {
                    log::debug!("net: {} closed a parked connection", pc.peer);
                    self.drop_parked(idx);
                    return;
                }
                Ok(n) => pc.buf.extend_from_slice(&self.scratch[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    log::debug!("net: read from parked {} failed: {e}", pc.peer);
                    self.drop_parked(idx);
                    return;
                }
            }
        }
    }

    /// The client of a parked request left: drop the park (its resume is never called) and
    /// close the connection.
    pub(super) fn drop_parked(&mut self, idx: usize) {
        let Some(slot) = self.slots.get_mut(idx) else {
            return;
        };
        if !matches!(slot, Slot::Parked(_)) {
            return;
        }
        let Slot::Parked(mut pc) = std::mem::replace(slot, Slot::Free) else {
            return;
        };
        let _ = self.poll.registry().deregister(&mut pc.stream);
        pc.rec.state.fire();
        let peer = pc.peer;
        drop(pc); // drops the resume closure, here on the poller thread
        self.free.push(idx);
        self.parked -= 1;
        self.uncount(peer);
        self.stats.parked_dropped_total.fetch_add(1, Ordering::Relaxed);
        self.sync_parked();
    }

    /// Hands a parked request to the worker pool to run its resume.
    pub(super) fn resume_parked(&mut self, idx: usize, timed_out: bool) {
        let Some(slot) = self.slots.get_mut(idx) else {
            return;
        };
        let peer = match slot {
            Slot::Parked(pc) => pc.peer,
            _ => return,
        };
        let Slot::Parked(mut pc) = std::mem::replace(slot, Slot::InWorker { peer }) else {
            return;
        };
        if let Err(e) = self.poll.registry().deregister(&mut pc.stream) {
            log::warn!("net: cannot deregister a parked connection: {e}");
        }
        self.parked -= 1;
        self.sync_parked();
        let ParkedConn { stream, buf, rec, .. } = *pc;
        self.submit_resume(idx, stream.into(), peer, buf, rec, timed_out);
    }

    /// Submits the resume job of a park whose slot is `InWorker`.
    pub(super) fn submit_resume(
        &mut self,
        idx: usize,
        stream: std::net::TcpStream,
        peer: SocketAddr,
        leftover: Vec<u8>,
        mut rec: Box<ParkRecord>,
        timed_out: bool,
    ) {
        let preamble = std::mem::take(&mut rec.preamble);
        self.in_worker += 1;
        let kind = JobKind::Resume { rec, timed_out };
        self.pool.submit(Job { slot: idx, stream, peer, leftover, preamble, kind });
    }

    /// Resumes the parks that `Wake::wake` asked for.
    pub(super) fn drain_wakes(&mut self) {
        let mut n = 0usize;
        while let Ok((idx, id)) = self.wakes.try_recv() {
            // A stale message (park resumed, dropped, or its slot reused) is ignored; a wake
            // that overtook its park's hand-over is caught by `take_park`.
            if self.slots.get(idx).is_some_and(|s| s.holds_park(id)) {
                self.resume_parked(idx, false);
            }
            n += 1;
            if n.is_multiple_of(256) {
                self.accept_loop(); // a wake storm must not starve the backlog
            }
        }
    }

    /// Resumes the parks whose deadline passed (`timed_out` unless a wake got there first).
    pub(super) fn expire_parks(&mut self, now: Instant) {
        let mut n = 0usize;
        while let Some(&Reverse((deadline, idx, id))) = self.park_deadlines.peek() {
            if deadline > now {
                break;
            }
            self.park_deadlines.pop();
            let Some(Slot::Parked(pc)) = self.slots.get(idx) else {
                continue;
            };
            if pc.rec.state.id != id {
                continue;
            }
            let timed_out = !pc.rec.state.fire();
            self.resume_parked(idx, timed_out);
            n += 1;
            if n.is_multiple_of(256) {
                self.accept_loop();
            }
        }
        if self.park_deadlines.len() > 2 * self.parked + 1024 {
            let slots = &self.slots;
            self.park_deadlines.retain(|Reverse((_, idx, id))| slots.get(*idx).is_some_and(|s| s.holds_park(*id)));
        }
    }
}
