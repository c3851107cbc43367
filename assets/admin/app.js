// The admin dashboard: plain ES modules, no build step. Hash routing (#/users/usr_1); every
// page reads the JSON API with the admin's bearer token (api.js keeps it in memory only).

import { h, $, clear, money, pct, num, when, bytes, duration, badge } from './dom.js';
import * as api from './api.js';
import { chart } from './chart.js';
import { showError, clearError, notice, actionButton, confirmAction, dl, listPage } from './ui.js';

const main = $('#main');
const enc = encodeURIComponent;
const link = (href, text) => h('a', { href }, text);
const userLink = (u) => (u && u.id ? link(`#/users/${enc(u.id)}`, u.fullName || u.id) : '—');

// ---- Login ---------------------------------------------------------------------------------

function loginPage() {
  $('#nav').hidden = true;
  $('#menu').hidden = true;
  $('#logout').hidden = true;
  $('#who').textContent = '';
  const err = h('p', { id: 'login-error', class: 'error', role: 'alert', 'aria-live': 'assertive' });
  const phone = h('input', { id: 'login-phone', name: 'phone', type: 'tel', autocomplete: 'username', required: true, 'aria-describedby': 'login-error' });
  const pw = h('input', { id: 'login-password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const btn = h('button', { type: 'submit', id: 'login-submit' }, 'Log in');
  const form = h('form', { class: 'login card', 'aria-labelledby': 'login-h' },
    h('h1', { id: 'login-h' }, 'Operator login'),
    h('div', { class: 'field' }, h('label', { for: 'login-phone' }, 'Phone'), phone),
    h('div', { class: 'field' }, h('label', { for: 'login-password' }, 'Password'), pw),
    err, btn);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    err.textContent = '';
    btn.disabled = true;
    try {
      await api.login(phone.value.trim(), pw.value);
      pw.value = '';
      if (!location.hash || location.hash === '#/login') location.hash = '#/';
      route();
    } catch (e) {
      err.textContent = e.status === 401 ? 'Wrong phone or password (or not an admin account).'
        : e.status === 429 ? `Too many attempts. ${e.retryAfter ? `Try again in ${e.retryAfter} seconds.` : 'Try again later.'}`
          : e.message;
      pw.focus();
    } finally {
      btn.disabled = false;
    }
  });
  clear(main, form);
  phone.focus();
}

// ---- Overview ------------------------------------------------------------------------------

function tile(key, label, value, sub) {
  return h('div', { class: 'tile', 'data-kpi': key }, h('span', { class: 'tile-label' }, label),
    h('span', { class: 'tile-value' }, value), sub ? h('span', { class: 'tile-sub' }, sub) : null);
}

function alertsPanel(items) {
  const firing = items.filter((a) => a.firing);
  return h('section', { class: 'alerts card', 'aria-labelledby': 'alerts-h', 'data-alerts': firing.length },
    h('h2', { id: 'alerts-h' }, 'Alerts'),
    firing.length
      ? h('ul', {}, firing.map((a) => h('li', { class: 'alert-item' }, badge('firing'), ' ', h('strong', {}, a.title), ': ', a.message, h('span', { class: 'muted small' }, ` since ${when(a.since)}`))))
      : h('p', { class: 'muted' }, 'No alert is firing.'));
}

async function overview(params) {
  const from = params.get('from') || '';
  const to = params.get('to') || '';
  const q = new URLSearchParams();
  if (from) q.set('from', from);
  if (to) q.set('to', to);
  const [st, alerts] = await Promise.all([api.get(`/api/v1/admin/stats?${q}`), api.get('/api/v1/admin/alerts').catch(() => ({ items: [] }))]);
  const t = st.totals;
  const days = st.daily.map((d) => d.date);
  const cur = t.revenue.currency;
  const range = h('form', { class: 'filters range', 'aria-label': 'Date range' },
    h('div', { class: 'field' }, h('label', { for: 'range-from' }, 'From'), h('input', { id: 'range-from', type: 'date', name: 'from', value: st.from })),
    h('div', { class: 'field' }, h('label', { for: 'range-to' }, 'To'), h('input', { id: 'range-to', type: 'date', name: 'to', value: st.to })),
    h('div', { class: 'field buttons' }, h('button', { type: 'submit' }, 'Show'),
      [7, 30, 90].map((n) => h('button', { type: 'button', class: 'secondary', 'data-days': n, onclick: () => {
        const end = new Date(`${st.to}T00:00:00Z`);
        const start = new Date(end.getTime() - (n - 1) * 86400000);
        location.hash = `#/?from=${start.toISOString().slice(0, 10)}&to=${st.to}`;
      } }, `${n} days`))));
  range.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const f = new FormData(range);
    location.hash = `#/?from=${f.get('from')}&to=${f.get('to')}`;
  });
  const rateFmt = (v) => `${Math.round(v * 100)}%`;
  clear(main,
    h('div', { class: 'page-head' }, h('h1', {}, 'Overview'), h('p', { class: 'muted' }, `${st.from} to ${st.to} (${st.timezone})`)),
    range,
    alertsPanel(alerts.items || []),
    h('section', { class: 'tiles', 'aria-label': 'Key figures' },
      tile('bookings', 'Bookings', num(t.bookings), `${num(t.completed)} completed · ${num(t.cancelled)} cancelled`),
      tile('revenue', 'Revenue', money(t.revenue), `${num(t.paymentsSucceeded)} payments`),
      tile('paymentSuccessRate', 'Payment success', pct(t.paymentSuccessRate), `${num(t.paymentsFailed)} failed`),
      tile('deliveryRate', 'Notification delivery', pct(t.deliveryRate), `${num(t.notificationsSent)} sent · ${num(t.notificationsFailed)} failed`),
      tile('calls', 'Calls', num(t.calls), `${num(t.answeredCalls)} answered · MOS ${t.meanMos == null ? '—' : t.meanMos.toFixed(2)}`),
      tile('customers', 'Customers', num(st.now.customers)),
      tile('providers', 'Providers', num(st.now.providers)),
      tile('activeListings', 'Active listings', num(st.now.activeListings)),
      tile('openReports', 'Open reports', num(st.now.openReports)),
      tile('deadLetters', 'Dead letters', num(st.now.deadLetters))),
    h('section', { class: 'charts', 'aria-label': 'Charts' },
      chart({ id: 'bookings', title: 'Bookings per day', label: 'Bookings', kind: 'bar', days, values: st.daily.map((d) => d.bookings), format: (v) => num(Math.round(v)), summary: (s) => `${num(s)} in total` }),
      chart({ id: 'revenue', title: 'Revenue per day', label: `Revenue (${cur})`, kind: 'bar', minMax: 100000, days, values: st.daily.map((d) => d.revenue.amount), format: (v) => money({ amount: Math.round(v), currency: cur }).replace(/\.00$/, ''), summary: (s) => money({ amount: s, currency: cur }) }),
      chart({ id: 'payments', title: 'Payment success rate', label: 'Success rate', kind: 'line', max: 1, days, values: st.daily.map((d) => d.paymentSuccessRate), format: rateFmt }),
      chart({ id: 'delivery', title: 'Notification delivery rate', label: 'Delivery rate', kind: 'line', max: 1, days, values: st.daily.map((d) => d.deliveryRate), format: rateFmt }),
      chart({ id: 'calls', title: 'Calls per day and mean MOS', label: 'Calls', kind: 'bar', days, values: st.daily.map((d) => d.calls), format: (v) => num(Math.round(v)),
        second: { label: 'Mean MOS', values: st.daily.map((d) => d.meanMos), max: 5, format: (v) => v.toFixed(1) }, summary: (s) => `${num(s)} calls` })));
}

// ---- Users ---------------------------------------------------------------------------------

const roleOptions = [['', 'Any role'], ['customer', 'Customer'], ['provider', 'Provider'], ['admin', 'Admin']];

function exportButton(path, name, params) {
  return h('button', { type: 'button', class: 'secondary', 'data-export': name, onclick: async () => {
    try {
      const q = new URLSearchParams(Object.entries(params()).filter(([, v]) => v));
      const r = await api.download(`${path}${q.toString() ? `?${q}` : ''}`, name);
      notice(`Downloaded ${r.name} (${bytes(r.size)}).`);
    } catch (e) { showError(e); }
  } }, `Export ${name}`);
}

function users(params) {
  return listPage(main, {
    key: 'users', title: 'Users', path: '/api/v1/admin/users',
    filters: [{ name: 'q', label: 'Search name, phone or e-mail', type: 'search' }, { name: 'role', label: 'Role', type: 'select', options: roleOptions }],
    tools: (p) => exportButton('/api/v1/admin/export/users.csv', 'users.csv', () => ({ role: p().role })),
    columns: [
      { label: 'Name', cell: (u) => userLink(u) },
      { label: 'Phone', cell: (u) => u.phone },
      { label: 'Role', cell: (u) => u.role },
      { label: 'State', cell: (u) => [u.deleted ? badge('deleted') : null, u.blocked ? badge('blocked') : null, u.locked ? badge('locked') : null, u.verified ? badge('verified') : badge('unverified')] },
      { label: 'Joined', cell: (u) => when(u.createdAt) },
    ],
  }, Object.fromEntries(params));
}

async function userDetail(id) {
  const [u, sessions] = await Promise.all([api.get(`/api/v1/admin/users/${enc(id)}`), api.get(`/api/v1/admin/users/${enc(id)}/sessions`)]);
  const reload = () => userDetail(id);
  const patch = (body) => api.api('PATCH', `/api/v1/admin/users/${enc(id)}`, body);
  const who = `${u.fullName} (${u.phone})`;
  const actions = h('div', { class: 'actions' },
    u.locked
      ? actionButton('Unlock', { message: `Unlock ${who}? They can log in again at once.` }, () => patch({ locked: false }), reload)
      : actionButton('Lock', { message: `Lock ${who} out of logging in for a while?`, danger: true }, () => patch({ locked: true }), reload),
    u.verified
      ? actionButton('Unverify', { message: `Mark ${who} as not verified?` }, () => patch({ verified: false }), reload)
      : actionButton('Verify', { message: `Mark ${who} as verified?` }, () => patch({ verified: true }), reload),
    u.blocked
      ? actionButton('Unblock', { message: `Unblock ${who}?` }, () => patch({ blocked: false }), reload)
      : actionButton('Block', { message: `Block ${who}? Every session ends and they cannot log in.`, danger: true }, () => patch({ blocked: true }), reload),
    actionButton('Force logout', { name: 'force-logout', message: `End every session of ${who}?`, danger: true }, () => api.api('POST', `/api/v1/admin/users/${enc(id)}/logout-all`), reload));
  const side = u.role === 'provider' ? 'providerId' : 'customerId';
  clear(main,
    h('p', {}, link('#/users', '← Users')),
    h('div', { class: 'page-head' }, h('h1', { 'data-user-name': '' }, u.fullName || u.id), badge(u.role)),
    dl([['Id', u.id], ['Phone', u.phone], ['E-mail', u.email || '—'], ['Verified', u.verified ? 'yes' : 'no'], ['Blocked', u.blocked ? 'yes' : 'no'],
      ['Locked', u.locked ? `until ${when(u.lockedUntil)}` : 'no'], ['Deleted', u.deleted ? 'yes' : 'no'], ['Joined', when(u.createdAt)]]),
    actions,
    h('p', {}, link(`#/bookings?${side}=${enc(u.id)}`, 'Their bookings'), ' · ', link(`#/audit?target=${enc(u.id)}`, 'Audit entries about them'), ' · ', link(`#/audit?actorId=${enc(u.id)}`, 'Their own actions')),
    h('h2', {}, 'Sessions'),
    h('div', { class: 'table-wrap' }, h('table', { class: 'list', 'data-list': 'sessions' },
      h('thead', {}, h('tr', {}, ['Device', 'Address', 'Started', 'Last seen', 'State'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, sessions.items.length ? sessions.items.map((s) => h('tr', {},
        h('td', { 'data-label': 'Device' }, s.device || '—'), h('td', { 'data-label': 'Address' }, s.ip || '—'),
        h('td', { 'data-label': 'Started' }, when(s.createdAt)), h('td', { 'data-label': 'Last seen' }, when(s.lastSeenAt)),
        h('td', { 'data-label': 'State' }, s.active ? badge('active') : badge(s.revokedReason ? `ended: ${s.revokedReason}` : 'expired'))))
        : h('tr', {}, h('td', { colspan: 5, class: 'muted' }, 'No sessions.'))))));
}

// ---- Listings, bookings --------------------------------------------------------------------

function listings(params) {
  return listPage(main, {
    key: 'listings', title: 'Listings', path: '/api/v1/admin/listings',
    filters: [{ name: 'status', label: 'Status', type: 'select', options: [['', 'Any'], ['active', 'Active'], ['pending_payment', 'Pending payment'], ['expired', 'Expired'], ['suspended', 'Suspended']] }],
    columns: [
      { label: 'Category', cell: (l) => (l.category && l.category.name) || '—' },
      { label: 'Provider', cell: (l) => userLink(l.provider) },
      { label: 'City', cell: (l) => [l.city, l.state].filter(Boolean).join(', ') },
      { label: 'Status', cell: (l) => badge(l.status) },
      { label: 'Active until', cell: (l) => when(l.activeUntil) },
      { label: 'Action', cell: (l, reload) => (l.status === 'suspended'
        ? actionButton('Reinstate', { ariaLabel: `Reinstate listing ${l.id}`, message: 'Make this listing active again?' }, () => api.api('PATCH', `/api/v1/admin/listings/${enc(l.id)}`, { status: 'active' }), reload)
        : actionButton('Suspend', { ariaLabel: `Suspend listing ${l.id}`, danger: true, message: 'Suspend this listing? It leaves search at once.' }, () => api.api('PATCH', `/api/v1/admin/listings/${enc(l.id)}`, { status: 'suspended' }), reload)) },
    ],
  }, Object.fromEntries(params));
}

const bookingStatuses = [['', 'Any'], ['pending', 'Pending'], ['accepted', 'Accepted'], ['in_progress', 'In progress'], ['completed', 'Completed'], ['cancelled', 'Cancelled'], ['rejected', 'Rejected'], ['expired', 'Expired']];

function bookings(params) {
  return listPage(main, {
    key: 'bookings', title: 'Bookings', path: '/api/v1/admin/bookings',
    filters: [{ name: 'status', label: 'Status', type: 'select', options: bookingStatuses }, { name: 'customerId', label: 'Customer id' },
      { name: 'providerId', label: 'Provider id' }, { name: 'from', label: 'Created from', type: 'date' }, { name: 'to', label: 'Created to', type: 'date' }],
    tools: (p) => exportButton('/api/v1/admin/export/bookings.csv', 'bookings.csv', p),
    columns: [
      { label: 'Booking', cell: (b) => link(`#/bookings/${enc(b.id)}`, `${b.category.name} · ${b.date} ${b.time}`) },
      { label: 'Customer', cell: (b) => userLink(b.customer) },
      { label: 'Provider', cell: (b) => userLink(b.provider) },
      { label: 'Total', num: true, cell: (b) => money(b.total) },
      { label: 'Status', cell: (b) => badge(b.status) },
      { label: 'Created', cell: (b) => when(b.createdAt) },
    ],
  }, Object.fromEntries(params));
}

async function bookingDetail(id) {
  const b = await api.get(`/api/v1/bookings/${enc(id)}`);
  clear(main,
    h('p', {}, link('#/bookings', '← Bookings')),
    h('div', { class: 'page-head' }, h('h1', {}, `${b.category.name} on ${b.date} at ${b.time}`), badge(b.status)),
    dl([['Id', b.id], ['Customer', userLink(b.customer)], ['Provider', userLink(b.provider)], ['Starts', when(b.startsAt)], ['Address', b.address],
      ['Notes', b.notes || '—'], ['Items', b.subServices.map((i) => `${i.name} (${money(i.price)})`).join(', ') || '—'], ['Total', money(b.total)], ['Created', when(b.createdAt)]]),
    h('h2', {}, 'Timeline'),
    h('ol', { class: 'timeline', 'data-timeline': '' }, (b.history || []).map((e) => h('li', {},
      h('span', { class: 'when' }, when(e.at)), ' ', badge(e.status), ' ', h('span', { class: 'muted' }, `by ${e.by.role}${e.by.id ? ` ${e.by.id}` : ''}`),
      e.reason ? h('p', { class: 'reason' }, e.reason) : null))));
}

// ---- Payments (the payments feature's contract) --------------------------------------------

function payments(params) {
  return listPage(main, {
    key: 'payments', title: 'Payments', path: '/api/v1/admin/payments',
    filters: [
      { name: 'status', label: 'Status', type: 'select', options: [['', 'Any'], ['pending', 'Pending'], ['succeeded', 'Succeeded'], ['failed', 'Failed'], ['expired', 'Expired'], ['partially_refunded', 'Partially refunded'], ['refunded', 'Refunded']] },
      { name: 'purpose', label: 'Purpose', type: 'select', options: [['', 'Any'], ['listing_fee', 'Listing fee'], ['pass', 'Pass'], ['booking', 'Booking']] },
      { name: 'gateway', label: 'Gateway', type: 'select', options: [['', 'Any'], ['sandbox', 'Sandbox'], ['stripe', 'Stripe'], ['razorpay', 'Razorpay'], ['paytm', 'Paytm']] },
      { name: 'userId', label: 'Payer id' },
      { name: 'flagged', label: 'Flagged', type: 'select', options: [['', 'Any'], ['true', 'Flagged only']] },
      { name: 'from', label: 'From', type: 'date' }, { name: 'to', label: 'To', type: 'date' }],
    tools: (p) => exportButton('/api/v1/admin/export/payments.csv', 'payments.csv', p),
    columns: [
      { label: 'Payment', cell: (p) => link(`#/payments/${enc(p.id)}`, p.id) },
      { label: 'Payer', cell: (p) => userLink(p.payer) },
      { label: 'Purpose', cell: (p) => p.purpose },
      { label: 'Amount', num: true, cell: (p) => money(p.amount) },
      { label: 'Gateway', cell: (p) => p.gateway },
      { label: 'Status', cell: (p) => [badge(p.status), (p.flags || []).map((f) => [' ', badge(f)])] },
      { label: 'Created', cell: (p) => when(p.createdAt) },
    ],
  }, Object.fromEntries(params));
}

async function paymentDetail(id) {
  const p = await api.get(`/api/v1/admin/payments/${enc(id)}`);
  const refunded = (p.refunds || []).filter((r) => r.status !== 'failed').reduce((a, r) => a + r.amount.amount, 0);
  const left = p.amount.amount - refunded;
  const amount = h('input', { id: 'refund-amount', name: 'amount', type: 'number', min: '0.01', step: '0.01', inputmode: 'decimal', 'aria-describedby': 'refund-help' });
  const reason = h('input', { id: 'refund-reason', name: 'reason', type: 'text', required: true, maxlength: 500 });
  const form = h('form', { id: 'refund-form', class: 'card', 'aria-labelledby': 'refund-h' },
    h('h2', { id: 'refund-h' }, 'Refund'),
    h('p', { id: 'refund-help', class: 'muted small' }, `Refundable: ${money({ amount: left, currency: p.amount.currency })}. Leave the amount empty to refund all of it.`),
    h('div', { class: 'field' }, h('label', { for: 'refund-amount' }, `Amount (${p.amount.currency})`), amount),
    h('div', { class: 'field' }, h('label', { for: 'refund-reason' }, 'Reason'), reason),
    h('button', { type: 'submit', class: 'danger', id: 'refund-submit' }, 'Refund payment'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (!reason.value.trim()) { reason.focus(); return; }
    const minor = amount.value ? Math.round(Number(amount.value) * 100) : null;
    const shown = money({ amount: minor ?? left, currency: p.amount.currency });
    const ok = await confirmAction({ title: 'Refund this payment?', message: `Refund ${shown} of ${p.id} to ${p.payer ? p.payer.fullName : 'the payer'}? This cannot be undone.`, confirmLabel: 'Refund', danger: true });
    if (!ok) return;
    try {
      const body = { reason: reason.value.trim() };
      if (minor !== null) body.amount = { amount: minor, currency: p.amount.currency };
      const r = await api.api('POST', `/api/v1/payments/${enc(p.id)}/refunds`, body);
      notice(`Refund ${r.id} is ${r.status}.`);
      await paymentDetail(id);
    } catch (e) { showError(e); }
  });
  const t = p.target || {};
  clear(main,
    h('p', {}, link('#/payments', '← Payments')),
    h('div', { class: 'page-head' }, h('h1', {}, `Payment ${p.id}`), badge(p.status), (p.flags || []).map((f) => badge(f))),
    dl([['Amount', money(p.amount)], ['Purpose', p.purpose], ['Payer', userLink(p.payer)], ['Gateway', `${p.gateway}${p.gatewayRef ? ` · ${p.gatewayRef}` : ''}`],
      ['For', t.bookingId ? link(`#/bookings/${enc(t.bookingId)}`, t.bookingId) : t.listingId || t.categoryId || '—'], ['Created', when(p.createdAt)], ['Completed', when(p.completedAt)]]),
    h('h2', {}, 'Refunds'),
    h('div', { class: 'table-wrap' }, h('table', { class: 'list', 'data-list': 'refunds' },
      h('thead', {}, h('tr', {}, ['Refund', 'Amount', 'Status', 'Reason', 'Created', 'Completed'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, (p.refunds || []).length ? p.refunds.map((r) => h('tr', {}, h('td', { 'data-label': 'Refund' }, r.id), h('td', { 'data-label': 'Amount', class: 'num' }, money(r.amount)),
        h('td', { 'data-label': 'Status' }, badge(r.status)), h('td', { 'data-label': 'Reason' }, r.reason || '—'), h('td', { 'data-label': 'Created' }, when(r.createdAt)), h('td', { 'data-label': 'Completed' }, when(r.completedAt))))
        : h('tr', {}, h('td', { colspan: 6, class: 'muted' }, 'No refunds.'))))),
    left > 0 && ['succeeded', 'partially_refunded'].includes(p.status) ? form : null,
    h('h2', {}, 'Gateway events'),
    h('div', { class: 'table-wrap' }, h('table', { class: 'list', 'data-list': 'payment-events' },
      h('thead', {}, h('tr', {}, ['Event', 'Type', 'Received', 'Outcome'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, (p.events || []).length ? p.events.map((e) => h('tr', {}, h('td', { 'data-label': 'Event' }, e.eventId), h('td', { 'data-label': 'Type' }, e.type),
        h('td', { 'data-label': 'Received' }, when(e.receivedAt)), h('td', { 'data-label': 'Outcome' }, e.outcome)))
        : h('tr', {}, h('td', { colspan: 4, class: 'muted' }, 'No gateway events.'))))));
}

// ---- Calls, reports, notifications, enquiries, categories, audit ---------------------------

function calls(params) {
  return listPage(main, {
    key: 'calls', title: 'Calls', path: '/api/v1/admin/calls',
    filters: [{ name: 'status', label: 'Status', type: 'select', options: [['', 'Any'], ['ringing', 'Ringing'], ['active', 'Active'], ['ended', 'Ended'], ['missed', 'Missed'], ['rejected', 'Rejected'], ['cancelled', 'Cancelled']] },
      { name: 'bookingId', label: 'Booking id' }, { name: 'userId', label: 'User id' }, { name: 'from', label: 'From', type: 'date' }, { name: 'to', label: 'To', type: 'date' }],
    columns: [
      { label: 'Booking', cell: (c) => link(`#/bookings/${enc(c.bookingId)}`, c.bookingId) },
      { label: 'Caller', cell: (c) => link(`#/users/${enc(c.caller.id)}`, `${c.caller.role} ${c.caller.id}`) },
      { label: 'Callee', cell: (c) => link(`#/users/${enc(c.callee.id)}`, `${c.callee.role} ${c.callee.id}`) },
      { label: 'Status', cell: (c) => badge(c.status) },
      { label: 'Started', cell: (c) => when(c.startedAt) },
      { label: 'Duration', num: true, cell: (c) => (c.durationSeconds == null ? '—' : duration(c.durationSeconds)) },
      { label: 'MOS', num: true, cell: (c) => (c.mos == null ? '—' : c.mos.toFixed(1)) },
      { label: 'End', cell: (c) => c.endReason || '—' },
    ],
  }, Object.fromEntries(params));
}

function reports(params) {
  const resolve = (r, status, reload) => actionButton(status === 'resolved' ? 'Resolve' : 'Dismiss', {
    name: status, ariaLabel: `${status === 'resolved' ? 'Resolve' : 'Dismiss'} report ${r.id}`, message: `Report on booking ${r.bookingId}: “${r.reason}”.`,
    input: { label: 'Resolution (shown in the audit log)' },
  }, (text) => api.api('PATCH', `/api/v1/admin/reports/${enc(r.id)}`, { status, resolution: text }), reload);
  return listPage(main, {
    key: 'reports', title: 'Reports', path: '/api/v1/admin/reports',
    filters: [{ name: 'status', label: 'Status', type: 'select', options: [['open', 'Open'], ['', 'Any'], ['resolved', 'Resolved'], ['dismissed', 'Dismissed']] }],
    fixed: {},
    columns: [
      { label: 'Booking', cell: (r) => link(`#/bookings/${enc(r.bookingId)}`, r.bookingId) },
      { label: 'Reporter', cell: (r) => link(`#/users/${enc(r.reporterId)}`, r.reporterId) },
      { label: 'Reported', cell: (r) => link(`#/users/${enc(r.reportedId)}`, r.reportedId) },
      { label: 'Reason', cell: (r) => [h('strong', {}, r.reason), h('p', { class: 'small' }, r.description)] },
      { label: 'Status', cell: (r) => [badge(r.status), r.resolution ? h('p', { class: 'small muted' }, r.resolution) : null] },
      { label: 'Action', cell: (r, reload) => (r.status === 'open' ? [resolve(r, 'resolved', reload), ' ', resolve(r, 'dismissed', reload)] : '—') },
    ],
  }, { status: 'open', ...Object.fromEntries(params) });
}

function notifications(params) {
  return listPage(main, {
    key: 'notifications', title: 'Notification deliveries', path: '/api/v1/admin/notifications',
    intro: 'Deliveries that failed for good (dead letters) or are still failing. Retry sends one again now.',
    filters: [{ name: 'status', label: 'Status', type: 'select', options: [['dead', 'Dead'], ['failed', 'Failing']] }],
    columns: [
      { label: 'Channel', cell: (d) => d.channel },
      { label: 'Recipient', cell: (d) => (d.userId ? link(`#/users/${enc(d.userId)}`, d.userId) : d.target || '—') },
      { label: 'Attempts', num: true, cell: (d) => num(d.attempts) },
      { label: 'Last error', cell: (d) => d.lastError || '—' },
      { label: 'Status', cell: (d) => badge(d.status) },
      { label: 'Updated', cell: (d) => when(d.updatedAt) },
      { label: 'Action', cell: (d, reload) => actionButton('Retry', { name: 'retry', ariaLabel: `Retry delivery ${d.id}`, message: `Send delivery ${d.id} (${d.channel}) again now?`, done: 'Queued for another attempt.' },
        () => api.api('POST', `/api/v1/admin/notifications/${enc(d.id)}/retry`), reload) },
    ],
  }, { status: 'dead', ...Object.fromEntries(params) });
}

function enquiries(params) {
  return listPage(main, {
    key: 'enquiries', title: 'Enquiries', path: '/api/v1/admin/enquiries',
    filters: [{ name: 'status', label: 'Status', type: 'select', options: [['open', 'Open'], ['closed', 'Closed']] }],
    columns: [
      { label: 'From', cell: (e) => [h('strong', {}, e.name), h('p', { class: 'small' }, [e.phone, e.email].filter(Boolean).join(' · '))] },
      { label: 'Message', cell: (e) => h('p', { class: 'message' }, e.message) },
      { label: 'Received', cell: (e) => when(e.createdAt) },
      { label: 'Status', cell: (e) => badge(e.status) },
      { label: 'Action', cell: (e, reload) => actionButton(e.status === 'open' ? 'Close' : 'Reopen', { ariaLabel: `${e.status === 'open' ? 'Close' : 'Reopen'} enquiry ${e.id}`, message: `Mark the enquiry from ${e.name} as ${e.status === 'open' ? 'closed' : 'open'}?` },
        () => api.api('PATCH', `/api/v1/admin/enquiries/${enc(e.id)}`, { status: e.status === 'open' ? 'closed' : 'open' }), reload) },
    ],
  }, { status: 'open', ...Object.fromEntries(params) });
}

function categories(params) {
  return listPage(main, {
    key: 'categories', title: 'Categories', path: '/api/v1/admin/categories',
    columns: [
      { label: 'Name', cell: (c) => [h('strong', {}, c.name), h('span', { class: 'muted small' }, ` ${c.slug}`)] },
      { label: 'Listing fee', num: true, cell: (c) => `${money(c.listingFee)} / ${c.listingDays} d` },
      { label: 'Pass', cell: (c) => (c.requiresPass ? `${money(c.passFee)} / ${c.passDays} d` : 'not needed') },
      { label: 'Sub-services', cell: (c) => (c.subServices || []).map((x) => x.name).join(', ') },
      { label: 'State', cell: (c) => badge(c.active ? 'active' : 'inactive') },
      { label: 'Action', cell: (c, reload) => actionButton(c.active ? 'Deactivate' : 'Activate', { ariaLabel: `${c.active ? 'Deactivate' : 'Activate'} category ${c.name}`, danger: c.active, message: `${c.active ? 'Hide' : 'Show'} the category ${c.name}?` },
        () => api.api('PATCH', `/api/v1/admin/categories/${enc(c.id)}`, { active: !c.active }), reload) },
    ],
  }, Object.fromEntries(params));
}

function audit(params) {
  return listPage(main, {
    key: 'audit', title: 'Audit log', path: '/api/v1/admin/audit-log', limit: 50,
    filters: [{ name: 'action', label: 'Action (admin. = every admin action)', placeholder: 'admin.' }, { name: 'actorId', label: 'Actor id' }, { name: 'target', label: 'Target id' }],
    columns: [
      { label: 'When', cell: (a) => when(a.at) },
      { label: 'Action', cell: (a) => h('code', {}, a.action) },
      { label: 'Actor', cell: (a) => (a.actorId ? link(`#/users/${enc(a.actorId)}`, `${a.actorRole || ''} ${a.actorId}`) : 'system') },
      { label: 'Target', cell: (a) => a.target || '—' },
      { label: 'Address', cell: (a) => a.ip || '—' },
      { label: 'Details', cell: (a) => h('code', { class: 'small' }, a.details ? JSON.stringify(a.details) : '') },
    ],
  }, Object.fromEntries(params));
}

// ---- System --------------------------------------------------------------------------------

async function system() {
  const [sys, alerts] = await Promise.all([api.get('/api/v1/admin/system'), api.get('/api/v1/admin/alerts')]);
  const result = h('p', { id: 'backup-result', class: 'muted small', 'aria-live': 'polite' });
  const backup = h('button', { type: 'button', id: 'backup', onclick: async () => {
    backup.disabled = true;
    result.textContent = 'Making a consistent snapshot…';
    try {
      const r = await api.download('/api/v1/admin/backup', 'buildxpert.db');
      result.textContent = `Downloaded ${r.name} (${bytes(r.size)}).`;
    } catch (e) { result.textContent = ''; showError(e); } finally { backup.disabled = false; }
  } }, 'Download backup');
  clear(main,
    h('div', { class: 'page-head' }, h('h1', {}, 'System'), badge(sys.readiness.status)),
    dl([['Version', sys.version], ['Schema version', String(sys.schemaVersion)], ['Started', when(sys.startedAt)], ['Uptime', duration(sys.uptimeSeconds)],
      ['Database', bytes(sys.databaseBytes)], ['Write-ahead log', bytes(sys.walBytes)], ['Free disk', bytes(sys.freeDiskBytes)], ['Server time', when(sys.serverTime)]]),
    h('section', { class: 'card', 'aria-labelledby': 'backup-h' }, h('h2', { id: 'backup-h' }, 'Backup'),
      h('p', {}, 'A consistent snapshot of the database, made while the server keeps serving. Keep it somewhere safe: it holds every account.'), backup, result),
    h('h2', {}, 'Readiness'),
    dl(Object.entries(sys.readiness.checks).map(([k, v]) => [k, badge(v)])),
    h('h2', {}, 'Alerts'),
    h('div', { class: 'table-wrap' }, h('table', { class: 'list', 'data-list': 'alerts' },
      h('thead', {}, h('tr', {}, ['Alert', 'State', 'Value', 'Threshold', 'Message', 'Checked'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, alerts.items.map((a) => h('tr', {}, h('td', { 'data-label': 'Alert' }, a.title),
        h('td', { 'data-label': 'State' }, !a.enabled ? badge('disabled') : !a.checkedAt ? badge('not checked yet') : badge(a.firing ? 'firing' : 'ok')),
        h('td', { 'data-label': 'Value', class: 'num' }, a.value == null ? '—' : String(Math.round(a.value * 1000) / 1000)),
        h('td', { 'data-label': 'Threshold', class: 'num' }, a.threshold == null ? '—' : String(a.threshold)),
        h('td', { 'data-label': 'Message' }, a.message || '—'), h('td', { 'data-label': 'Checked' }, when(a.checkedAt))))))),
    h('h2', {}, 'Jobs'),
    h('div', { class: 'table-wrap' }, h('table', { class: 'list', 'data-list': 'jobs' },
      h('thead', {}, h('tr', {}, ['Job', 'Runs', 'Failures', 'Last run', 'Took', 'Last error'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, sys.jobs.length === 0 ? h('tr', {}, h('td', { colspan: 6, class: 'muted' }, 'No job has run yet.')) : sys.jobs.map((j) => h('tr', {}, h('td', { 'data-label': 'Job' }, h('code', {}, j.name)), h('td', { 'data-label': 'Runs', class: 'num' }, num(j.runs)),
        h('td', { 'data-label': 'Failures', class: 'num' }, num(j.failures)), h('td', { 'data-label': 'Last run' }, when(j.lastRunAt)),
        h('td', { 'data-label': 'Took', class: 'num' }, `${j.lastDurationMs} ms`), h('td', { 'data-label': 'Last error' }, j.lastError || '—')))))),
    h('h2', {}, 'Configuration'),
    h('p', { class: 'muted small' }, 'The effective configuration; secrets are masked.'),
    h('pre', { class: 'config', tabindex: 0, 'aria-label': 'Configuration' }, sys.config));
}

// ---- Router --------------------------------------------------------------------------------

const routes = [
  [/^\/$/, (m, q) => overview(q)],
  [/^\/users$/, (m, q) => users(q)],
  [/^\/users\/([^/]+)$/, (m) => userDetail(decodeURIComponent(m[1]))],
  [/^\/listings$/, (m, q) => listings(q)],
  [/^\/bookings$/, (m, q) => bookings(q)],
  [/^\/bookings\/([^/]+)$/, (m) => bookingDetail(decodeURIComponent(m[1]))],
  [/^\/payments$/, (m, q) => payments(q)],
  [/^\/payments\/([^/]+)$/, (m) => paymentDetail(decodeURIComponent(m[1]))],
  [/^\/calls$/, (m, q) => calls(q)],
  [/^\/reports$/, (m, q) => reports(q)],
  [/^\/notifications$/, (m, q) => notifications(q)],
  [/^\/enquiries$/, (m, q) => enquiries(q)],
  [/^\/categories$/, (m, q) => categories(q)],
  [/^\/audit$/, (m, q) => audit(q)],
  [/^\/system$/, () => system()],
];

async function route() {
  clearError();
  if (!api.signedIn()) { loginPage(); return; }
  const u = api.user();
  $('#nav').hidden = false;
  $('#menu').hidden = false;
  $('#logout').hidden = false;
  $('#who').textContent = u ? u.fullName : '';
  const raw = (location.hash || '#/').slice(1);
  const [path, qs] = raw.split('?');
  const q = new URLSearchParams(qs || '');
  for (const a of document.querySelectorAll('#nav a')) {
    const target = a.getAttribute('href').slice(1);
    const current = target === '/' ? path === '/' : path === target || path.startsWith(`${target}/`);
    if (current) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  closeMenu();
  const hit = routes.find(([re]) => re.test(path || '/'));
  if (!hit) { clear(main, h('h1', {}, 'Not found'), h('p', {}, link('#/', 'Back to the overview'))); return; }
  try {
    await hit[1]((path || '/').match(hit[0]), q);
    document.title = `${main.querySelector('h1')?.textContent || 'Admin'} · BuildXpert admin`;
    main.focus({ preventScroll: true });
  } catch (e) {
    if (!api.signedIn()) { loginPage(); return; }
    clear(main, h('h1', {}, 'Could not load this page'), h('p', {}, e.status === 404 ? 'It does not exist (or is not available in this build).' : e.message));
    showError(e);
  }
}

function closeMenu() {
  $('#menu').setAttribute('aria-expanded', 'false');
  $('#nav').classList.remove('open');
}

$('#menu').addEventListener('click', () => {
  const open = $('#menu').getAttribute('aria-expanded') !== 'true';
  $('#menu').setAttribute('aria-expanded', String(open));
  $('#nav').classList.toggle('open', open);
});
$('#logout').addEventListener('click', async () => { await api.logout(); location.hash = '#/'; });
api.onSignOut(() => loginPage());
window.addEventListener('hashchange', route);
route();
