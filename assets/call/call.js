// The BuildXpert call page: sign in, pick an open booking, ring the other party or answer them,
// and talk over WebRTC. Everything goes through the JSON API under /api/v1: the session stays in
// sessionStorage (never in the URL), the ring and every offer, answer and ICE candidate travel
// as POST /calls/{id}/signal and come back on the /events long-poll; quality reports go up from
// getStats() every few seconds. Plain ES module, no dependencies.

const API = '/api/v1';
const STORE = 'bx.call.session';
const QUALITY_EVERY_MS = 3000;

const $ = (id) => document.getElementById(id);

// What the page knows; `window.bxCall` exposes it to tests and curious operators.
const state = {
  session: null, // {accessToken, role, userId, name}
  call: null, // the Call as the server last told us
  side: null, // 'caller' | 'callee'
  pc: null,
  dc: null,
  local: null, // MediaStream
  pendingCandidates: [],
  iceState: 'new',
  dcReceived: [],
  qualityReports: 0,
  lastMos: null,
  stopped: false,
};
window.bxCall = state;

function setStatus(s, detail = '') {
  $('call-status').textContent = s;
  $('call-detail').textContent = detail;
  document.body.dataset.state = s;
  const c = state.call;
  $('answer').hidden = !(s === 'incoming');
  $('reject').hidden = !(s === 'incoming');
  $('hangup').hidden = !(c && ['ringing', 'connecting', 'connected'].includes(s));
}

function showError(e) {
  $('error').textContent = e ? String(e.message || e) : '';
}

async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (state.session) headers.Authorization = `Bearer ${state.session.accessToken}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const resp = await fetch(API + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await resp.text();
  const json = text ? JSON.parse(text) : null;
  if (resp.status === 401 && state.session) {
    signOut();
  }
  if (!resp.ok) {
    const err = new Error((json && json.error && json.error.message) || `HTTP ${resp.status}`);
    err.status = resp.status;
    err.code = json && json.error && json.error.code;
    throw err;
  }
  return json;
}

// ---- sign-in -------------------------------------------------------------------------------

async function signIn(ev) {
  ev.preventDefault();
  $('login-error').textContent = '';
  try {
    const role = $('role').value;
    const t = await api('POST', '/auth/login', { phone: $('phone').value, password: $('password').value, role });
    state.session = { accessToken: t.accessToken, role, userId: t.user.id, name: t.user.fullName || '' };
    sessionStorage.setItem(STORE, JSON.stringify(state.session));
    $('password').value = '';
    await enter();
  } catch (e) {
    $('login-error').textContent = e.message;
  }
}

function signOut() {
  state.stopped = true;
  sessionStorage.removeItem(STORE);
  state.session = null;
  teardown();
  $('main').hidden = true;
  $('login').hidden = false;
  document.body.dataset.state = 'signed-out';
}

async function enter() {
  $('login').hidden = true;
  $('main').hidden = false;
  $('who').textContent = `Signed in as ${state.session.name} (${state.session.role})`;
  state.stopped = false;
  setStatus('idle');
  await loadBookings();
  pollEvents();
}

async function loadBookings() {
  const list = await api('GET', `/bookings?as=${state.session.role}&status=pending,accepted,in_progress&limit=50`);
  const ul = $('bookings');
  ul.replaceChildren();
  for (const b of list.items) {
    const other = state.session.role === 'customer' ? b.provider : b.customer;
    const otherName = other && other.fullName ? other.fullName : 'the other party';
    const li = document.createElement('li');
    li.dataset.booking = b.id;
    const btn = document.createElement('button');
    btn.type = 'button';
    btn.textContent = 'Call';
    btn.className = 'call-btn';
    btn.addEventListener('click', () => ring(b.id).catch(showError));
    const label = document.createElement('span');
    label.textContent = ` ${b.category && b.category.name ? b.category.name : 'Booking'} on ${b.date} at ${b.time} with ${otherName} (${b.status}) `;
    li.append(label, btn);
    ul.append(li);
  }
  if (!list.items.length) {
    const li = document.createElement('li');
    li.textContent = 'No open bookings.';
    ul.append(li);
  }
}

// ---- events ---------------------------------------------------------------------------------

async function pollEvents() {
  let cursor = null;
  while (!state.stopped && state.session) {
    try {
      const q = cursor === null ? '' : `?after=${encodeURIComponent(cursor)}&wait=25`;
      const page = await api('GET', `/events${q}`);
      cursor = page.cursor;
      for (const ev of page.events) {
        await handleEvent(ev).catch(showError);
      }
    } catch (e) {
      if (e.status === 401) return;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

async function handleEvent(ev) {
  const d = ev.data || {};
  switch (ev.type) {
    case 'call.incoming':
      if (!onCall()) {
        state.call = d.call;
        state.side = 'callee';
        setStatus('incoming', `from the ${d.call.caller.role}`);
      }
      break;
    case 'call.accepted':
      if (state.call && d.call.id === state.call.id) {
        state.call = d.call;
        if (state.side === 'caller') await startPeer(true);
      }
      break;
    case 'call.rejected':
    case 'call.ended':
      if (state.call && d.call.id === state.call.id) {
        state.call = d.call;
        await finalReport();
        teardown();
        setStatus('ended', d.call.endReason || d.call.status);
      }
      break;
    case 'call.signal':
      if (state.call && d.callId === state.call.id) await onSignal(d);
      break;
    default:
      break;
  }
}

// ---- the call -------------------------------------------------------------------------------

function onCall() {
  return !!state.call && ['ringing', 'active'].includes(state.call.status);
}

async function ring(bookingId) {
  showError('');
  if (onCall()) throw new Error('Already on a call.');
  const call = await api('POST', '/calls', { bookingId });
  state.call = call;
  state.side = 'caller';
  setStatus('ringing', `calling the ${call.callee.role}…`);
}

async function answer() {
  const call = await api('POST', `/calls/${state.call.id}/accept`, {});
  state.call = call;
  setStatus('connecting');
  await startPeer(false);
}

async function decline() {
  const call = await api('POST', `/calls/${state.call.id}/reject`, {});
  state.call = call;
  teardown();
  setStatus('ended', 'declined');
}

async function hangUp() {
  const c = state.call;
  if (!c) return;
  let after;
  if (c.status === 'ringing' && state.side === 'caller') {
    after = await api('POST', `/calls/${c.id}/cancel`, {});
  } else {
    await finalReport();
    after = await api('POST', `/calls/${c.id}/end`, {});
  }
  state.call = after;
  teardown();
  setStatus('ended', after.endReason || after.status);
}

async function iceServers() {
  const r = await api('GET', '/calls/ice-servers');
  return r.iceServers;
}

function signal(body) {
  return api('POST', `/calls/${state.call.id}/signal`, body);
}

function wireChannel(dc) {
  state.dc = dc;
  dc.addEventListener('open', () => {
    dc.send(`hello from ${state.session.role}`);
    log(`channel open`);
  });
  dc.addEventListener('message', (e) => {
    state.dcReceived.push(String(e.data));
    log(`them: ${e.data}`);
  });
}

function log(text) {
  const li = document.createElement('li');
  li.textContent = text;
  $('dc-log').append(li);
}

async function startPeer(offerer) {
  if (state.pc || state.starting) return;
  state.starting = true;
  const pc = new RTCPeerConnection({ iceServers: await iceServers() });
  pc.addEventListener('icecandidate', (e) => {
    if (e.candidate && state.call) signal({ type: 'candidate', candidate: e.candidate.toJSON() }).catch(showError);
  });
  pc.addEventListener('iceconnectionstatechange', () => {
    state.iceState = pc.iceConnectionState;
    if (['connected', 'completed'].includes(pc.iceConnectionState)) {
      setStatus('connected');
      startQuality();
    } else if (pc.iceConnectionState === 'failed') {
      setStatus('connecting', 'ICE failed');
    }
  });
  pc.addEventListener('track', (e) => {
    const [stream] = e.streams;
    if (e.track.kind === 'video') $('remote-video').srcObject = stream;
    else $('remote-audio').srcObject = stream;
  });
  pc.addEventListener('datachannel', (e) => wireChannel(e.channel));
  const video = $('with-video').checked;
  state.local = await navigator.mediaDevices.getUserMedia({ audio: true, video });
  for (const t of state.local.getTracks()) pc.addTrack(t, state.local);
  if (video) $('local-video').srcObject = state.local;
  // Only now may signals reach it: an answer must carry our tracks.
  state.pc = pc;
  state.starting = false;
  if (offerer) {
    wireChannel(pc.createDataChannel('chat'));
    setStatus('connecting');
    await pc.setLocalDescription(await pc.createOffer());
    await signal({ type: 'offer', sdp: pc.localDescription.sdp });
  }
  // Signals that came before the connection existed.
  const waiting = state.early || [];
  state.early = [];
  for (const s of waiting) await onSignal(s);
}

async function onSignal(s) {
  const pc = state.pc;
  if (!pc) {
    (state.early = state.early || []).push(s);
    return;
  }
  if (s.type === 'offer') {
    await pc.setRemoteDescription({ type: 'offer', sdp: s.sdp });
    await pc.setLocalDescription(await pc.createAnswer());
    await signal({ type: 'answer', sdp: pc.localDescription.sdp });
    await flushCandidates();
  } else if (s.type === 'answer') {
    await pc.setRemoteDescription({ type: 'answer', sdp: s.sdp });
    await flushCandidates();
  } else if (s.type === 'candidate') {
    if (!s.candidate) return; // end-of-candidates
    if (pc.remoteDescription) await pc.addIceCandidate(s.candidate);
    else state.pendingCandidates.push(s.candidate);
  }
}

async function flushCandidates() {
  const list = state.pendingCandidates;
  state.pendingCandidates = [];
  for (const c of list) await state.pc.addIceCandidate(c);
}

// ---- quality --------------------------------------------------------------------------------

let qualityTimer = null;
let lastBytes = null;

async function measure() {
  const pc = state.pc;
  if (!pc) return null;
  const stats = await pc.getStats();
  let rtt = null;
  let jitter = 0;
  let lost = 0;
  let received = 0;
  let bytes = 0;
  let at = 0;
  stats.forEach((r) => {
    if (r.type === 'candidate-pair' && r.state === 'succeeded' && r.currentRoundTripTime !== undefined) {
      rtt = r.currentRoundTripTime * 1000;
    }
    if (r.type === 'inbound-rtp' && r.kind === 'audio') {
      jitter = (r.jitter || 0) * 1000;
      lost += Math.max(0, r.packetsLost || 0);
      received += r.packetsReceived || 0;
      bytes += r.bytesReceived || 0;
      at = r.timestamp;
    }
  });
  state.inboundPackets = received;
  const loss = received + lost > 0 ? (100 * lost) / (received + lost) : 0;
  const out = { rttMs: rtt === null ? 0 : rtt, jitterMs: jitter, packetLossPercent: loss };
  if (lastBytes && at > lastBytes.at) out.bitrateKbps = ((bytes - lastBytes.bytes) * 8) / (at - lastBytes.at);
  lastBytes = { bytes, at };
  return out;
}

async function report() {
  const c = state.call;
  const q = await measure();
  if (!q || !c) return;
  const r = await api('POST', `/calls/${c.id}/quality`, q);
  state.qualityReports += 1;
  state.lastMos = r.mos;
  $('quality').textContent = `RTT ${q.rttMs.toFixed(0)} ms, jitter ${q.jitterMs.toFixed(1)} ms, loss ${q.packetLossPercent.toFixed(1)} % → MOS ${r.mos}`;
}

function startQuality() {
  if (qualityTimer) return;
  report().catch(showError);
  qualityTimer = setInterval(() => report().catch(showError), QUALITY_EVERY_MS);
}

async function finalReport() {
  if (state.pc && state.call && state.call.answeredAt) await report().catch(() => {});
}

function teardown() {
  if (qualityTimer) clearInterval(qualityTimer);
  qualityTimer = null;
  lastBytes = null;
  if (state.pc) state.pc.close();
  state.pc = null;
  state.dc = null;
  if (state.local) for (const t of state.local.getTracks()) t.stop();
  state.local = null;
  state.pendingCandidates = [];
  state.early = [];
  state.iceState = 'closed';
  state.starting = false;
}

// ---- wiring ---------------------------------------------------------------------------------

function init() {
  $('login-form').addEventListener('submit', signIn);
  $('logout').addEventListener('click', signOut);
  $('answer').addEventListener('click', () => answer().catch(showError));
  $('reject').addEventListener('click', () => decline().catch(showError));
  $('hangup').addEventListener('click', () => hangUp().catch(showError));
  $('chat-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const text = $('dc-text').value;
    if (state.dc && state.dc.readyState === 'open' && text) {
      state.dc.send(text);
      log(`me: ${text}`);
      $('dc-text').value = '';
    }
  });
  const saved = sessionStorage.getItem(STORE);
  if (saved) {
    try {
      state.session = JSON.parse(saved);
      enter().catch(showError);
    } catch {
      sessionStorage.removeItem(STORE);
    }
  }
}

init();
