// Smoke test of the harness: the browser reaches the server and renders a page it serves.
import { launch, check, BASE } from './lib.mjs';

const browser = await launch();
try {
  const page = await browser.newPage();
  const resp = await page.goto(`${BASE}/healthz`);
  check(resp.status() === 200, '/healthz answers 200 in the browser');
  check((await page.textContent('body')).includes('"ok"'), 'the body says ok');
} finally {
  await browser.close();
}
