// Secure messaging in a real browser at a phone's width: the patient writes to the nurse line
// with a photo from her phone's camera, the clinician answers from the in-basket, and the
// patient reads the answer and sees that the clinic read hers. Every page checked with axe at
// both widths and photographed.

import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

/** A real JPEG, as a phone's camera writes one: Chromium photographs a page. */
async function photo(page) {
  const dir = await mkdtemp(join(tmpdir(), 'portal-photo-'));
  const path = join(dir, 'IMG_2041.jpg');
  await page.goto('about:blank');
  await page.setContent('<body style="margin:0;background:#d98c7a"><div style="width:160px;height:120px;background:#b35a4a;border-radius:50%"></div></body>');
  await writeFile(path, await page.screenshot({ type: 'jpeg', quality: 80 }));
  return path;
}

describe('a patient and her clinician exchange messages on their phones', { timeout: TEST_TIMEOUT_MS }, () => {
  let patient;
  let clinician;
  let sofiaId;
  let threadPath;

  before(async () => {
    sofiaId = portal.patientId('Sofia Martinez');
    patient = await person(browser);
    clinician = await person(browser);
    await signIn(patient.page, portal, portal.account('patient'));
    await signIn(clinician.page, portal, portal.account('clinician'));
  });

  after(async () => {
    await patient?.context.close();
    await clinician?.context.close();
  });

  test('the patient writes to the nurse line with a photo', async (t) => {
    const { page } = patient;
    await page.setViewportSize(PHONE);
    const file = await photo(page);
    // On a phone, Messages sits under "More" in the menu.
    await page.goto(portal.href(`/patients/${sofiaId}`));
    const nav = page.getByRole('navigation', { name: 'Main' });
    await nav.getByText('More', { exact: true }).click();
    await clickThrough(page, nav.getByRole('link', { name: 'Messages', exact: true }));
    assert.equal(await heading(page), 'Messages');
    await checkPage(t, page, 'patient-messages-empty');
    await page.setViewportSize(PHONE);
    await clickThrough(page, page.getByRole('link', { name: 'Write a new message' }));
    assert.equal(pathOf(page), `/patients/${sofiaId}/messages/new`);
    const notice = await page.getByRole('note').innerText();
    assert.match(notice, /Not for emergencies/);
    assert.match(notice, /call 911/);
    assert.match(notice, /replies within 2 business days/);
    await checkPage(t, page, 'patient-message-compose');
    await page.setViewportSize(PHONE);

    // Sending with nothing filled in names each field and keeps the page.
    await clickThrough(page, page.getByRole('button', { name: 'Send message' }));
    const summary = await page.locator('.error-summary').innerText();
    assert.match(summary, /Choose who should receive your message/);
    assert.match(summary, /Enter a subject/);

    await page.getByLabel('To', { exact: true }).selectOption({ label: 'Nurse line' });
    await page.getByLabel('What is it about?', { exact: true }).selectOption({ label: 'Medical question' });
    await page.getByLabel('Subject', { exact: true }).fill('Rash on my arm');
    await page.getByLabel('Message', { exact: true }).fill('It started on Monday.\nIt itches at night.');
    await page.getByLabel('Photos or documents (optional)').setInputFiles(file);
    await clickThrough(page, page.getByRole('button', { name: 'Send message' }));
    threadPath = pathOf(page);
    assert.match(threadPath, new RegExp(`^/patients/${sofiaId}/messages/[0-9a-f-]{36}$`));
    assert.equal(await heading(page), 'Rash on my arm');
    const message = page.locator('.message').first();
    assert.match(await message.innerText(), /It started on Monday\.\nIt itches at night\./);
    assert.match(await message.innerText(), /Not read by the clinic yet/);
    const img = page.getByRole('img', { name: 'Attached photo: IMG_2041.jpg' });
    assert.ok(await img.evaluate((el) => el.complete && el.naturalWidth > 0), 'the photo shows');
    await checkPage(t, page, 'patient-message-sent');
  });

  test('the clinician answers from the in-basket', async (t) => {
    const { page } = clinician;
    await page.setViewportSize(PHONE);
    await page.goto(portal.href('/inbasket'));
    assert.equal(await heading(page), 'In-basket');
    assert.match(await page.locator('main').innerText(), /Rash on my arm/);
    assert.match(await page.locator('main').innerText(), /1 unread/);
    await checkPage(t, page, 'clinician-inbasket');
    await page.setViewportSize(PHONE);
    await clickThrough(page, page.getByRole('link', { name: 'Rash on my arm' }));
    assert.equal(pathOf(page), threadPath);
    const img = page.getByRole('img', { name: 'Attached photo: IMG_2041.jpg' });
    assert.ok(await img.evaluate((el) => el.complete && el.naturalWidth > 0), 'the clinician sees the photo');
    await page.getByLabel('Internal note').fill('Looks like contact dermatitis; check soap.');
    await clickThrough(page, page.getByRole('button', { name: 'Add note' }));
    await page.getByLabel('Your reply').fill('Thank you for the photo. Please try a fragrance-free soap and send another photo in two days.');
    await clickThrough(page, page.getByRole('button', { name: 'Send reply' }));
    assert.equal(pathOf(page), threadPath);
    assert.match(await page.locator('.thread').innerText(), /fragrance-free soap/);
    assert.match(await page.locator('.thread').innerText(), /Read by the patient|Not read by the patient yet/);
    await checkPage(t, page, 'clinician-message-thread');
  });

  test('the patient reads the answer and sees the clinic read hers', async (t) => {
    const { page } = patient;
    await page.setViewportSize(PHONE);
    await page.goto(portal.href(`/patients/${sofiaId}`));
    const attention = await page.getByRole('region', { name: 'Needs your attention' }).innerText();
    assert.match(attention, /1 new message from the care team/);
    // The menu says so too: on a phone under "More", where Messages is.
    const nav = page.getByRole('navigation', { name: 'Main' });
    assert.match(await nav.locator('summary').innerText(), /More\s+1\s+new/);
    const tops = (await Promise.all((await nav.locator('a:visible, summary:visible').all()).map((l) => l.boundingBox()))).map((b) => b.y);
    assert.ok(Math.max(...tops) - Math.min(...tops) < 10, `the menu takes more than one row: ${tops}`);
    await checkPage(t, page, 'patient-home-new-message');
    await page.setViewportSize(PHONE);
    await clickThrough(page, page.getByRole('link', { name: '1 new message' }));
    assert.match(await page.locator('main').innerText(), /1 new/);
    await clickThrough(page, page.getByRole('link', { name: 'Rash on my arm' }));
    const thread = await page.locator('.thread').innerText();
    assert.match(thread, /Dr\. Maya Okafor/);
    assert.match(thread, /fragrance-free soap/);
    assert.match(thread, /Read by the clinic/);
    const main = await page.locator('main').innerText();
    assert.doesNotMatch(main, /contact dermatitis|Internal note|Clinic only/, 'the internal note stays with the clinic');
    await checkPage(t, page, 'patient-message-answered');
  });
});
