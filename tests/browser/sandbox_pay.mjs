// The sandbox pay page in a real browser: it renders under the server's CSP with no script, the
// Pay button submits the form (form-action 'self'), and the result page says the payment was
// received. BX_PAY_PATH is the page's path (/pay/sandbox/<id>); BX_ACTION is pay or fail.
import { launch, check, BASE, ARTEFACTS } from './lib.mjs';
import { join } from 'node:path';

const path = process.env.BX_PAY_PATH;
const action = process.env.BX_ACTION || 'pay';
const browser = await launch();
try {
  const page = await browser.newPage();
  const violations = [];
  page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) violations.push(m.text()); });
  const resp = await page.goto(`${BASE}${path}`);
  check(resp.status() === 200, 'the pay page answers 200');
  check((await page.textContent('h1')).includes('Sandbox payment'), 'it is the sandbox page');
  check((await page.locator('script').count()) === 0, 'no script on the page');
  await page.screenshot({ path: join(ARTEFACTS, 'sandbox-page.png') });
  await Promise.all([page.waitForNavigation(), page.click(`button[value="${action}"]`)]);
  const text = await page.textContent('body');
  await page.screenshot({ path: join(ARTEFACTS, 'sandbox-result.png') });
  const want = action === 'pay' ? 'Payment received' : 'Payment failed';
  check(text.includes(want), `the result page says ${want}`);
  check(violations.length === 0, `no CSP violations (${violations.join('; ')})`);
} finally {
  await browser.close();
}
