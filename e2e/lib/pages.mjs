// Reading and moving around the portal's pages the way a person does: the heading, the address
// bar, the main navigation.

import { clickThrough, newPerson } from './browser.mjs';

/** The text of the page's <h1>. */
export async function heading(page) {
  return (await page.getByRole('heading', { level: 1 }).innerText()).trim();
}

/** The current path of the page. */
export function pathOf(page) {
  return new URL(page.url()).pathname;
}

/** Follows the link called `label` in the main navigation. */
export async function followNav(page, label) {
  const nav = page.getByRole('navigation', { name: 'Main' });
  await clickThrough(page, nav.getByRole('link', { name: label, exact: true }));
}

/** A new person at a new browser, with short waits so a missing element fails fast. */
export async function person(browser) {
  const p = await newPerson(browser);
  p.context.setDefaultTimeout(10_000);
  return p;
}
