// The admin dashboard end to end in headless Chromium: log in, read the overview (tiles and
// charts match the seeded data), find a user by search and open them (an XSS payload in a
// name renders as text), retry a dead notification, download a backup; a screenshot of every
// page; the overview's page weight and time to first render are measured and printed.
// Env: BX_ADMIN_PHONE, BX_ADMIN_PASSWORD, BX_XSS_PHONE, BX_EXPECT_BOOKINGS, BX_EXPECT_CUSTOMERS,
// BX_DEAD_ID.
import { launch, check, BASE, ARTEFACTS } from './lib.mjs';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const shot = async (page, name) => {
  const path = join(ARTEFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  console.log(`screenshot ${path}`);
};

const browser = await launch();
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  // Script errors and CSP refusals fail the test (expected 4xx answers are not errors).
  page.on('console', (m) => { if (m.type() === 'error' && /Content Security Policy|Refused/.test(m.text())) errors.push(m.text()); });

  // --- Login page: served with the strict policy.
  const resp = await page.goto(`${BASE}/admin/`);
  check(resp.status() === 200, '/admin/ answers 200');
  const csp = resp.headers()['content-security-policy'] || '';
  check(csp.includes("default-src 'none'") && csp.includes("script-src 'self'") && !csp.includes('unsafe-inline'), `strict CSP: ${csp}`);
  check(resp.headers()['x-content-type-options'] === 'nosniff', 'nosniff');
  check(resp.headers()['referrer-policy'] === 'no-referrer', 'no referrer');
  await page.waitForSelector('#login-phone');
  check(await page.evaluate(() => document.activeElement.id === 'login-phone'), 'the phone field has the focus');
  // Keyboard: the skip link is the only stop before the form.
  await page.keyboard.press('Shift+Tab');
  check(await page.evaluate(() => document.activeElement.classList.contains('skip')), 'the skip link comes first in the tab order');
  await page.keyboard.press('Tab');
  await shot(page, 'login');

  // A wrong password is refused with a clear message.
  await page.fill('#login-phone', env('BX_ADMIN_PHONE'));
  await page.fill('#login-password', 'not-the-password');
  await page.click('#login-submit');
  await page.waitForFunction(() => document.querySelector('#login-error').textContent.length > 0);
  check((await page.textContent('#login-error')).includes('Wrong phone or password'), 'a wrong password is explained');

  // --- Log in and read the overview.
  await page.fill('#login-password', env('BX_ADMIN_PASSWORD'));
  const t0 = await page.evaluate(() => performance.now());
  await page.click('#login-submit');
  await page.waitForSelector('[data-kpi="bookings"] .tile-value');
  await page.waitForSelector('svg[data-chart="calls"]');
  const rendered = await page.evaluate(() => performance.now());
  const bookings = (await page.textContent('[data-kpi="bookings"] .tile-value')).trim();
  check(bookings === env('BX_EXPECT_BOOKINGS'), `the bookings tile shows the seeded ${env('BX_EXPECT_BOOKINGS')} (got ${bookings})`);
  const customers = (await page.textContent('[data-kpi="customers"] .tile-value')).trim();
  check(customers === env('BX_EXPECT_CUSTOMERS'), `the customers tile shows ${env('BX_EXPECT_CUSTOMERS')} (got ${customers})`);
  const charts = await page.$$eval('svg[data-chart]', (els) => els.map((e) => e.getAttribute('data-chart')));
  check(['bookings', 'revenue', 'payments', 'delivery', 'calls'].every((c) => charts.includes(c)), `five charts drawn: ${charts}`);
  const bars = await page.$$eval('svg[data-chart="bookings"] rect.bar', (els) => els.length);
  check(bars === 30, `one bar per day of the last 30 days (${bars})`);
  const tallest = await page.$$eval('svg[data-chart="bookings"] rect.bar title', (els) => els.map((e) => e.textContent).filter((t) => !t.endsWith(': 0')));
  check(tallest.length === 1 && tallest[0].endsWith(`: ${env('BX_EXPECT_BOOKINGS')}`), `today's bar carries the count in its title: ${tallest}`);
  check(await page.$eval('svg[data-chart="bookings"]', (e) => e.getAttribute('role') === 'img' && !!e.querySelector('title')), 'charts are labelled images');
  check((await page.$$('figure[data-chart-card] details table')).length === 5, 'each chart has a data table as its text alternative');

  // Page weight (bytes over the wire, from the Resource Timing API) and first render.
  const perf = await page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    const res = performance.getEntriesByType('resource');
    const fcp = performance.getEntriesByName('first-contentful-paint')[0];
    const sum = (list, f) => list.reduce((a, e) => a + (e[f] || 0), 0);
    return {
      transferred: (nav ? nav.transferSize : 0) + sum(res, 'transferSize'),
      decoded: (nav ? nav.decodedBodySize : 0) + sum(res, 'decodedBodySize'),
      requests: res.length + 1,
      fcp: fcp ? fcp.startTime : null,
      domContentLoaded: nav ? nav.domContentLoadedEventEnd : null,
    };
  });
  console.log(`PERF overview page weight: ${(perf.transferred / 1024).toFixed(1)} KB transferred (${(perf.decoded / 1024).toFixed(1)} KB decoded) in ${perf.requests} requests`);
  console.log(`PERF first-contentful-paint: ${perf.fcp === null ? 'n/a' : perf.fcp.toFixed(0)} ms; DOMContentLoaded ${perf.domContentLoaded?.toFixed(0)} ms`);
  console.log(`PERF overview rendered ${(rendered - t0).toFixed(0)} ms after the login click (stats + alerts fetched, tiles and charts drawn)`);
  check(perf.transferred < 200 * 1024, 'the overview weighs under 200 KB');
  await shot(page, 'overview');

  // --- Find a user by search; the XSS payload in their name is shown as text.
  await page.click('nav a[href="#/users"]');
  await page.waitForSelector('#f-users-q');
  await page.fill('#f-users-q', env('BX_XSS_PHONE'));
  await page.press('#f-users-q', 'Enter');
  await page.waitForFunction(() => document.querySelectorAll('table[data-list="users"] tbody tr[data-id]').length === 1);
  const nameCell = await page.textContent('table[data-list="users"] tbody tr[data-id] td:first-child');
  check(nameCell.includes('<img src=x onerror='), `the payload is visible as text: ${nameCell}`);
  check((await page.$$('main img')).length === 0, 'no <img> element was created from user text');
  await shot(page, 'users');
  await page.click('table[data-list="users"] tbody tr[data-id] td:first-child a');
  await page.waitForSelector('table[data-list="sessions"]');
  check((await page.textContent('h1[data-user-name]')).includes('<img'), 'the detail heading shows the payload as text');
  check((await page.$$('table[data-list="sessions"] tbody tr')).length >= 1, "the user's sessions are listed");
  check(await page.isVisible('button[data-action="force-logout"]'), 'force logout is offered');
  await shot(page, 'user-detail');
  check(await page.evaluate(() => window.__xss === undefined), 'the injected handler never ran');

  // --- Retry a dead notification (with a confirmation).
  await page.click('nav a[href="#/notifications"]');
  const dead = env('BX_DEAD_ID');
  await page.waitForSelector(`table[data-list="notifications"] tr[data-id="${dead}"]`);
  await shot(page, 'notifications');
  await page.click(`button[aria-label="Retry delivery ${dead}"]`);
  await page.waitForSelector('dialog#confirm[open]');
  check((await page.textContent('#confirm-message')).includes(dead), 'the confirmation names the delivery');
  await page.click('#confirm-ok');
  await page.waitForSelector('#errors p');
  const said = await page.textContent('#errors p');
  check(said.includes('Queued'), `the retry is confirmed: ${said}`);

  // --- Refund part of a payment (with a confirmation).
  const pay = env('BX_PAYMENT_ID');
  await page.evaluate(() => { location.hash = '#/payments'; });
  await page.waitForSelector(`table[data-list="payments"] a[href="#/payments/${pay}"]`);
  await page.click(`table[data-list="payments"] a[href="#/payments/${pay}"]`);
  await page.waitForSelector('#refund-form');
  check((await page.textContent('#refund-help')).includes('99'), 'the refundable amount is shown');
  await page.fill('#refund-amount', '50');
  await page.fill('#refund-reason', 'Charged twice');
  await page.click('#refund-submit');
  await page.waitForSelector('dialog#confirm[open]');
  check((await page.textContent('#confirm-message')).includes(pay), 'the confirmation names the payment');
  await page.click('#confirm-ok');
  await page.waitForFunction(() => document.querySelectorAll('table[data-list="refunds"] tbody tr td.num').length === 1);
  const refundRow = await page.textContent('table[data-list="refunds"] tbody tr');
  check(refundRow.includes('50') && refundRow.includes('succeeded'), `the refund is listed: ${refundRow}`);
  check((await page.textContent('.page-head')).includes('partially_refunded'), 'the payment is partially refunded');
  await shot(page, 'payment-detail');

  // --- The other pages (screenshots; each renders without error).
  for (const [hash, name, sel] of [
    ['#/listings', 'listings', 'table[data-list="listings"]'],
    ['#/bookings', 'bookings', 'table[data-list="bookings"] tbody tr[data-id]'],
    ['#/reports', 'reports', 'table[data-list="reports"]'],
    ['#/enquiries', 'enquiries', 'table[data-list="enquiries"]'],
    ['#/categories', 'categories', 'table[data-list="categories"]'],
    ['#/audit', 'audit-log', 'table[data-list="audit"] tbody tr[data-id]'],
    ['#/payments', 'payments', 'h1'],
    ['#/calls', 'calls', 'h1'],
  ]) {
    await page.evaluate((h) => { location.hash = h; }, hash);
    await page.waitForSelector(sel);
    await shot(page, name);
  }
  await page.evaluate(() => { location.hash = '#/bookings'; });
  await page.waitForSelector('table[data-list="bookings"] tbody tr[data-id] a');
  await page.click('table[data-list="bookings"] tbody tr[data-id] td:first-child a');
  await page.waitForSelector('ol[data-timeline] li');
  check((await page.$$('ol[data-timeline] li')).length >= 1, "a booking's timeline is shown");
  await shot(page, 'booking-detail');

  // --- System page and the backup download.
  await page.click('nav a[href="#/system"]');
  await page.waitForSelector('#backup');
  const config = await page.textContent('pre.config');
  check(config.includes('********') && !config.includes(env('BX_SECRET_PROBE')), 'the configuration masks secrets');
  await shot(page, 'system');
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#backup')]);
  const name = download.suggestedFilename();
  check(/^buildxpert-\d{8}T\d{6}Z\.db$/.test(name), `the backup is named ${name}`);
  const saved = join(ARTEFACTS, 'backup.db');
  await download.saveAs(saved);
  const head = readFileSync(saved).subarray(0, 16).toString('latin1');
  check(head === 'SQLite format 3\u0000', 'the backup starts with "SQLite format 3"');
  await page.waitForFunction(() => document.querySelector('#backup-result').textContent.startsWith('Downloaded'));

  // --- A phone-sized screen: the menu collapses, tables become cards.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.click('#menu');
  await page.click('nav a[href="#/"]');
  await page.waitForSelector('[data-kpi="bookings"]');
  check(await page.isHidden('nav#nav a[href="#/users"]'), 'on a phone the sections hide behind the menu');
  await shot(page, 'overview-phone');


  check(errors.length === 0, `no script errors or CSP violations: ${errors.join(' | ')}`);
} finally {
  await browser.close();
}
