// Real WebRTC signalled only through BuildXpert: two isolated browser contexts (a customer and a
// provider) open the call page, sign in, the customer rings, the provider answers; both peers
// must reach ICE connected, exchange data-channel messages and receive audio packets. Chromium's
// fake devices stand in for microphone and camera; host candidates only (no STUN in the test).
import { launch, check, BASE, ARTEFACTS } from './lib.mjs';
import { join } from 'node:path';

const BOOKING = process.env.BX_BOOKING;
const PASSWORD = process.env.BX_PASSWORD;
const origin = new URL(BASE).origin;

const browser = await launch([
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  '--autoplay-policy=no-user-gesture-required',
  // Plain host addresses: mDNS names would need a resolver between the two peers.
  '--disable-features=WebRtcHideLocalIpsWithMdns',
]);

async function openAs(role, phone) {
  const context = await browser.newContext();
  await context.grantPermissions(['microphone', 'camera'], { origin });
  const page = await context.newPage();
  const foreign = [];
  page.on('request', (r) => {
    const u = r.url();
    if (!u.startsWith(origin) && !u.startsWith('data:') && !u.startsWith('blob:')) foreign.push(u);
  });
  page.on('console', (m) => console.log(`[${role} console] ${m.text()}`));
  page.on('pageerror', (e) => console.log(`[${role} error] ${e.message}`));
  await page.goto(`${BASE}/call/`);
  await page.fill('#phone', phone);
  await page.fill('#password', PASSWORD);
  await page.selectOption('#role', role);
  await page.click('#login-btn');
  await page.waitForSelector(`#bookings li[data-booking="${BOOKING}"] button`, { timeout: 10000 });
  return { page, foreign, role };
}

const shot = (p, name) => p.page.screenshot({ path: join(ARTEFACTS, `${name}.png`), fullPage: true });
const errorText = (p) => p.page.textContent('#error');

try {
  const customer = await openAs('customer', process.env.BX_CUSTOMER_PHONE);
  const provider = await openAs('provider', process.env.BX_PROVIDER_PHONE);
  check(true, 'both users signed in and see the booking');
  const token = await customer.page.evaluate(() => sessionStorage.getItem('bx.call.session'));
  check(token && !customer.page.url().includes('Token') && !customer.page.url().includes('ey'), 'the session stays out of the URL');

  await customer.page.click(`#bookings li[data-booking="${BOOKING}"] button`);
  await customer.page.waitForFunction(() => document.body.dataset.state === 'ringing', null, { timeout: 10000 });
  await provider.page.waitForFunction(() => document.body.dataset.state === 'incoming', null, { timeout: 15000 });
  check(true, 'the provider sees the incoming call');
  await shot(provider, 'provider-incoming');

  await provider.page.click('#answer');
  const connected = () => ['connected', 'completed'].includes(window.bxCall.iceState);
  try {
    await customer.page.waitForFunction(connected, null, { timeout: 20000 });
    await provider.page.waitForFunction(connected, null, { timeout: 20000 });
  } finally {
    console.log('customer ice:', await customer.page.evaluate(() => window.bxCall.iceState), 'error:', await errorText(customer));
    console.log('provider ice:', await provider.page.evaluate(() => window.bxCall.iceState), 'error:', await errorText(provider));
  }
  check(true, 'both peers reach ICE connected');

  const got = (text) => (t) => window.bxCall.dcReceived.includes(t);
  await provider.page.waitForFunction(got(), 'hello from customer', { timeout: 10000 });
  check(true, "the provider got the customer's data-channel message");
  await customer.page.waitForFunction(got(), 'hello from provider', { timeout: 10000 });
  check(true, "the customer got the provider's data-channel message");

  const inboundAudio = async () => {
    const pc = window.bxCall.pc;
    if (!pc) return 0;
    let n = 0;
    (await pc.getStats()).forEach((r) => {
      if (r.type === 'inbound-rtp' && r.kind === 'audio') n += r.packetsReceived || 0;
    });
    return n;
  };
  for (const p of [customer, provider]) {
    await p.page.waitForFunction(async (f) => (await new Function(`return (${f})`)()()) > 10, inboundAudio.toString(), {
      timeout: 15000,
      polling: 250,
    });
  }
  check(true, 'audio packets arrive at both ends');
  for (const p of [customer, provider]) {
    await p.page.waitForFunction(() => window.bxCall.qualityReports >= 1, null, { timeout: 10000 });
  }
  check(true, 'both pages reported call quality');
  await shot(customer, 'customer-connected');
  await shot(provider, 'provider-connected');

  await customer.page.click('#hangup');
  for (const p of [customer, provider]) {
    await p.page.waitForFunction(() => document.body.dataset.state === 'ended', null, { timeout: 10000 });
  }
  check(true, 'the call ended for both');
  await shot(provider, 'provider-ended');

  // A second call the other way round, declined: the page is ready for the next call.
  await provider.page.click(`#bookings li[data-booking="${BOOKING}"] button`);
  await customer.page.waitForFunction(() => document.body.dataset.state === 'incoming', null, { timeout: 15000 });
  await customer.page.click('#reject');
  for (const p of [customer, provider]) {
    await p.page.waitForFunction(() => document.body.dataset.state === 'ended', null, { timeout: 10000 });
  }
  check((await provider.page.textContent('#call-detail')) === 'rejected', 'the provider sees the customer declined');
  check(customer.foreign.length === 0 && provider.foreign.length === 0, `no request left this server (${[...customer.foreign, ...provider.foreign].join(', ')})`);
} finally {
  await browser.close();
}
