// Prescription refills in a real browser at a phone's width: a parent asks for her son's
// medication to be renewed and chooses a pharmacy, the clinician finds the request in the
// in-basket and approves it, and the parent sees "Approved". Every page checked with axe at both
// widths and photographed.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { clickThrough, launchBrowser, PHONE } from '../lib/browser.mjs';
import { checkPage } from '../lib/page-checks.mjs';
import { heading, pathOf, person } from '../lib/pages.mjs';
import { startPortal } from '../lib/portal.mjs';
import { signIn } from '../lib/signin.mjs';

const TEST_TIMEOUT_MS = 120_000;

let portal;
let browser;

before(async () => {
  portal = await startPortal();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await portal?.stop();
});

describe('a parent asks for a refill for her son and the clinician approves it', { timeout: TEST_TIMEOUT_MS }, () => {
  let parent;
  let clinician;
  let leoId;
  let requestPath;
  let medication;

  before(async () => {
    leoId = portal.patientId('Leo Martinez');
    parent = await person(browser);
    await signIn(parent.page, portal, portal.account('patient'));
    clinician = await person(browser);
    await signIn(clinician.page, portal, portal.account('clinician'));
  });

  after(async () => {
    await parent?.context.close();
    await clinician?.context.close();
  });

  test('the medications page says which can be requested, and why not', async (t) => {
    const { page } = parent;
    await page.setViewportSize(PHONE);
    await page.goto(portal.href(`/patients/${leoId}/medications`));
    assert.equal(await heading(page), 'Medications');
    const main = await page.locator('main').innerText();
    assert.match(main, /You are viewing Leo's record/);
    assert.ok((await page.getByRole('checkbox').count()) > 0, 'a medication can be requested');
    await checkPage(t, page, 'refill-medications');
  });

  test('sending without a pharmacy is refused and keeps the choice', async () => {
    const { page } = parent;
    await page.setViewportSize(PHONE);
    const box = page.getByRole('checkbox').first();
    medication = (await page.locator(`label[for="${await box.getAttribute('id')}"]`).innerText()).trim();
    await box.check();
    await page.getByLabel('Pharmacy').selectOption({ index: 0 });
    await clickThrough(page, page.getByRole('button', { name: 'Request refills' }));
    assert.match(await page.getByRole('alert').first().innerText(), /Choose a pharmacy from the list/);
    assert.ok(await page.getByRole('checkbox').first().isChecked(), 'the medication stays chosen');
  });

  test('she sends the request with a pharmacy and a comment', async (t) => {
    const { page } = parent;
    await page.setViewportSize(PHONE);
    await page.getByLabel('Pharmacy').selectOption({ label: 'Main Street Pharmacy, 120 Main Street, Springfield' });
    await page.getByLabel('Comment for the clinic (optional)').fill('He has three days of tablets left.');
    await clickThrough(page, page.getByRole('button', { name: 'Request refills' }));
    requestPath = pathOf(page);
    assert.match(requestPath, new RegExp(`^/patients/${leoId}/refills/[0-9a-f-]{36}$`));
    const main = await page.locator('main').innerText();
    assert.match(main, /Your request was sent to the clinic/);
    assert.ok(main.includes(medication), `${medication} in ${main}`);
    assert.match(main, /Status: Sent/);
    assert.match(main, /Main Street Pharmacy/);
    await checkPage(t, page, 'refill-sent');
    // The same medication cannot be asked for twice while the clinic has it.
    await page.goto(portal.href(`/patients/${leoId}/medications`));
    assert.match(await page.locator('main').innerText(), /A refill request for it is already with the clinic/);
  });

  test('the clinician finds it in the in-basket and approves it', async (t) => {
    const { page } = clinician;
    await page.setViewportSize(PHONE);
    await page.goto(portal.href('/inbasket'));
    // Opening it takes it in review (a form: the page that lists it changes nothing).
    const link = page.getByRole('button', { name: /Refill request from Leo Martinez/ });
    await checkPage(t, page, 'refill-inbasket');
    await page.setViewportSize(PHONE);
    await clickThrough(page, link);
    assert.equal(await heading(page), 'Refill request');
    const main = await page.locator('main').innerText();
    assert.ok(main.includes(medication), `${medication} in ${main}`);
    assert.match(main, /He has three days of tablets left/);
    assert.match(main, /Status: In review/);
    await checkPage(t, page, 'refill-review');
    await page.setViewportSize(PHONE);
    await page.getByLabel('Approve').first().check();
    await clickThrough(page, page.getByRole('button', { name: 'Save decision' }).first());
    const after = await page.locator('main').innerText();
    assert.match(after, /Status: Approved/);
    assert.match(after, /Saved/);
  });

  test('the parent sees "Approved"', async (t) => {
    const { page } = parent;
    await page.setViewportSize(PHONE);
    await page.goto(portal.href(requestPath));
    const main = await page.locator('main').innerText();
    assert.match(main, /Status: Approved/);
    assert.match(main, /In review: /);
    await checkPage(t, page, 'refill-approved');
    await page.goto(portal.href(`/patients/${leoId}/refills`));
    assert.match(await page.locator('main').innerText(), /Approved/);
  });
});
