// Launches the machine's own headless Chromium through playwright-core (which downloads no
// browser of its own).

import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';

/** The Chromium executable: $PORTAL_CHROMIUM, else Debian's /usr/bin/chromium. */
export function chromiumPath() {
  const path = process.env.PORTAL_CHROMIUM || '/usr/bin/chromium';
  if (!existsSync(path)) {
    throw new Error(
      `no Chromium at ${path}: install it (\`apt-get install -y chromium\`) or set PORTAL_CHROMIUM`,
    );
  }
  return path;
}

/**
 * A headless Chromium. playwright-core starts it with a fresh, temporary user-data-dir of its
 * own and deletes it on close; each `newContext()` is a separate cookie jar, i.e. a separate
 * person at a separate browser.
 */
export async function launchBrowser() {
  return chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-quic',
    ],
  });
}

/** The two screen sizes every page is checked at: a small phone and a desktop. */
export const PHONE = { width: 360, height: 740 };
export const DESKTOP = { width: 1280, height: 900 };

/** A new browser context (no cookies) for one person, at phone size to start with. */
export async function newPerson(browser) {
  const context = await browser.newContext({ viewport: PHONE, locale: 'en-GB' });
  const page = await context.newPage();
  return { context, page };
}

/**
 * Clicks `target` (a link, or a button that sends a form) and waits until the page it leads to,
 * after any redirects, has loaded. Resolves with that page's path.
 */
export async function clickThrough(page, target) {
  const loaded = page.waitForEvent('load');
  await target.click();
  await loaded;
  return new URL(page.url()).pathname;
}
