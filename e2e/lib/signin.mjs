// Signing in through the pages, as a person does: e-mail and password, then (if the portal
// asks) the code from the authenticator app.

import { clickThrough } from './browser.mjs';
import { totp } from './totp.mjs';

/** The text of the page's error summary, or '' when there is none. */
export async function errorSummary(page) {
  const summary = page.locator('.error-summary');
  return (await summary.count()) > 0 ? (await summary.innerText()).trim() : '';
}

/**
 * Opens /signin, fills in `email` and `password` and sends the form. Resolves with the path of
 * the page the portal answers with.
 */
export async function submitPassword(page, portal, email, password) {
  await page.goto(portal.href('/signin'));
  await page.getByLabel('E-mail', { exact: true }).fill(email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  return clickThrough(page, page.getByRole('button', { name: 'Sign in' }));
}

/**
 * Signs `account` ({email, password, totp_secret?}) in and resolves with the path of the page
 * the portal lands on. The authenticator code is used once: signing the same account in again
 * within the same 30-second step is refused by the portal's replay protection.
 */
export async function signIn(page, portal, account) {
  let path = await submitPassword(page, portal, account.email, account.password);
  if (path === '/signin') {
    throw new Error(`sign-in of ${account.email} was refused: ${await errorSummary(page)}`);
  }
  if (path === '/signin/second-factor') {
    if (!account.totp_secret) {
      throw new Error(`${account.email} was asked for an authenticator code but has no secret`);
    }
    await page.getByLabel('Code', { exact: true }).fill(totp(account.totp_secret));
    path = await clickThrough(page, page.getByRole('button', { name: 'Continue' }));
    if (path === '/signin/second-factor') {
      throw new Error(`the authenticator code of ${account.email} was refused: ${await errorSummary(page)}`);
    }
  }
  return path;
}

/**
 * Keeps one signed-in browser per demo role for a whole test file: `signedIn(role)` signs the
 * demo account of `role` in on first use (with a new person from `newPersonAt`) and then hands
 * back the same browser. The portal accepts each authenticator code once, so signing the same
 * account in again within one 30-second step would be refused.
 */
export function signedInOnce(portal, newPersonAt) {
  const sessions = new Map();
  return (role) => {
    if (!sessions.has(role)) {
      sessions.set(
        role,
        (async () => {
          const p = await newPersonAt();
          await signIn(p.page, portal(), portal().account(role));
          return p;
        })(),
      );
    }
    return sessions.get(role);
  };
}
