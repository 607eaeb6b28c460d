// "Download my record" in a real browser: the patient finds it from Documents, is told what a
// wrong date is, opens the summary to print for one year (and it prints without the menu), and
// downloads the FHIR file for apps; as a parent, her son's copy. Every page checked with axe at
// both widths and photographed.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PHONE, clickThrough, launchBrowser } from '../lib/browser.mjs';
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

describe('a patient downloads and prints her record', { timeout: TEST_TIMEOUT_MS }, () => {
  let patient;
  let sofiaId;
  let leoId;

  before(async () => {
    sofiaId = portal.patientId('Sofia Martinez');
    leoId = portal.patientId('Leo Martinez');
    patient = await person(browser);
    await signIn(patient.page, portal, portal.account('patient'));
  });

  after(async () => {
    await patient?.context.close();
  });

  test('Documents leads to the download page', async (t) => {
    const { page } = patient;
    await page.setViewportSize(PHONE);
    await page.goto(portal.href(`/patients/${sofiaId}/documents`));
    await clickThrough(page, page.getByRole('link', { name: 'Download or print the whole record' }));
    assert.equal(pathOf(page), `/patients/${sofiaId}/download`);
    assert.equal(await heading(page), 'Download your record');
    const main = await page.locator('main').innerText();
    assert.match(main, /Leave both dates empty for the whole record/);
    assert.match(main, /Results the clinic has not released yet are not included/);
    await checkPage(t, page, 'download-choice');
  });

  test('a date the calendar does not have is named, and what was typed stays', async (t) => {
    const { page } = patient;
    await page.setViewportSize(PHONE);
    await page.getByLabel(/^From/).fill('31/31/2024');
    await clickThrough(page, page.getByRole('button', { name: 'Open a summary to print' }));
    const summary = await page.locator('.error-summary').innerText();
    assert.match(summary, /From: enter a date/);
    assert.equal(await page.getByLabel(/^From/).inputValue(), '31/31/2024');
    await checkPage(t, page, 'download-error');
  });

  test('the summary for one year lists each part of the record and prints without the menu', async (t) => {
    const { page } = patient;
    await page.setViewportSize(PHONE);
    await page.goto(portal.href(`/patients/${sofiaId}/download`));
    await page.getByLabel(/^From/).fill('2024-01-01');
    await page.getByLabel(/^To/).fill('2024-12-31');
    await clickThrough(page, page.getByRole('button', { name: 'Open a summary to print' }));
    assert.equal(await heading(page), 'Health record summary');
    const main = await page.locator('main').innerText();
    for (const part of ['Problems', 'Allergies and intolerances', 'Medications', 'Vaccinations', 'Test results and measurements', 'Procedures', 'Visits']) {
      assert.match(main, new RegExp(part));
    }
    assert.match(main, /From Jan 1, 2024 to Dec 31, 2024/);
    await checkPage(t, page, 'download-summary');
    await page.emulateMedia({ media: 'print' });
    assert.equal(await page.locator('nav.main-nav, .main-nav').first().isVisible().catch(() => false), false);
    await page.emulateMedia({ media: 'screen' });
  });

  test('the file for apps is a FHIR Bundle of her record', async () => {
    const { page } = patient;
    await page.goto(portal.href(`/patients/${sofiaId}/download`));
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Download the file for apps (FHIR)' }).click(),
    ]);
    assert.match(download.suggestedFilename(), /^health-record-\d{4}-\d{2}-\d{2}\.json$/);
    const path = await download.path();
    const { readFile } = await import('node:fs/promises');
    const bundle = JSON.parse(await readFile(path, 'utf8'));
    assert.equal(bundle.resourceType, 'Bundle');
    assert.equal(bundle.type, 'collection');
    const types = new Set(bundle.entry.map((e) => e.resource.resourceType));
    for (const type of ['Patient', 'Condition', 'Observation', 'Encounter']) {
      assert.ok(types.has(type), `the file holds ${type}`);
    }
    const patientEntry = bundle.entry.find((e) => e.resource.resourceType === 'Patient');
    assert.equal(patientEntry.resource.id, sofiaId);
  });

  test('she sends a copy to her doctor, who opens it with the code she gives', async (t) => {
    const { page } = patient;
    await page.setViewportSize(PHONE);
    await page.goto(portal.href(`/patients/${sofiaId}/download`));
    await page.getByLabel('Their e-mail address').fill('dr.okafor@clinic.example');
    await clickThrough(page, page.getByRole('button', { name: 'Send a copy' }));
    const notice = await page.getByRole('status').innerText();
    assert.match(notice, /The copy was sent to dr\.okafor@clinic\.example/);
    const code = /this code: ([A-Z0-9]{4}-[A-Z0-9]{4})/.exec(notice)?.[1];
    assert.ok(code, notice);
    await checkPage(t, page, 'download-sent');
    const mail = await portal.waitForMail(/dr\.okafor@clinic\.example/);
    assert.doesNotMatch(mail, new RegExp(code));
    assert.doesNotMatch(mail, /Sofia|Martinez/);
    const link = /(\/shared\/[a-z0-9]+)/.exec(mail)?.[1];
    assert.ok(link, mail);
    const doctor = await person(browser);
    try {
      await doctor.page.setViewportSize(PHONE);
      await doctor.page.goto(portal.href(link));
      assert.equal(await heading(doctor.page), 'A health record sent to you');
      assert.doesNotMatch(await doctor.page.locator('main').innerText(), /Sofia/);
      await checkPage(t, doctor.page, 'shared-code');
      await doctor.page.getByLabel('Code', { exact: true }).fill('WRNG-CODE');
      await clickThrough(doctor.page, doctor.page.getByRole('button', { name: 'Open the record' }));
      assert.match(await doctor.page.locator('.error-summary').innerText(), /4 tries are left/);
      await doctor.page.getByLabel('Code', { exact: true }).fill(code.toLowerCase());
      await clickThrough(doctor.page, doctor.page.getByRole('button', { name: 'Open the record' }));
      assert.equal(await heading(doctor.page), 'Health record of Sofia Martinez');
      const main = await doctor.page.locator('main').innerText();
      assert.match(main, /Problems/);
      await checkPage(t, doctor.page, 'shared-record');
    } finally {
      await doctor.context.close();
    }
  });

  test('as a parent, her son\'s copy', async (t) => {
    const { page } = patient;
    await page.setViewportSize(PHONE);
    await page.goto(portal.href(`/patients/${leoId}/download`));
    assert.equal(await heading(page), 'Download this record');
    const main = await page.locator('main').innerText();
    assert.match(main, /Items marked confidential are not included/);
    await checkPage(t, page, 'download-choice-proxy');
    await clickThrough(page, page.getByRole('button', { name: 'Open a summary to print' }));
    assert.equal(await heading(page), 'Health record summary');
    assert.match(await page.locator('main').innerText(), /The whole record/);
    await checkPage(t, page, 'download-summary-proxy');
  });
});
