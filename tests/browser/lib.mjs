// Shared launcher for the browser tests: Debian's Chromium, headless, with the flags this
// closed network needs (no background connections to Google's hosts); Playwright gives each
// launch a fresh temporary profile.
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const BASE = process.env.BX_URL;
// Screenshots and other artefacts go here (the Rust side passes a directory under target/).
export const ARTEFACTS = process.env.BX_ARTEFACTS || join(tmpdir(), 'bx-browser-artefacts');
mkdirSync(ARTEFACTS, { recursive: true });

export async function launch(extraArgs = []) {
  if (!BASE) throw new Error('BX_URL is not set');
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      ...extraArgs,
    ],
  });
}

// Fails the test with a message; the Rust side prints stdout and stderr.
export function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
  console.log(`ok - ${what}`);
}
