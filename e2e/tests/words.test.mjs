// The record in words people read, in a real browser: as the demo patient (her own record), as a
// parent (her son's) and as the clinician (the patient's record), every page says no UCUM code,
// no SNOMED CT semantic tag and no UUID, at a phone's and a desktop's width with axe (checkPage).
// Then the result-release flow end to end: the clinic holds laboratory results, a lab sends a
// panel, the patient sees nothing of it, the clinician releases the report, the patient sees all.
//
// One demo portal serves the whole file. Each demo account signs in once (the portal accepts each
// authenticator code once per account).

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { clickThrough, launchBrowser } from '../lib/browser.mjs';
import { checkPage } from '../lib/page-checks.mjs';
import { heading, pathOf, person } from '../lib/pages.mjs';
import { startPortal } from '../lib/portal.mjs';
import { signIn, signedInOnce } from '../lib/signin.mjs';

const SUITE_TIMEOUT_MS = 300_000;

/** UCUM's codes, as opposed to units written for people: 10*3/uL, mm[Hg], {score}, Cel. */
const UCUM = /10\*\d|\[[A-Za-z_]+\]|\{[A-Za-z_.0-9 ]+\}|\bCel\b/;
/** SNOMED CT's semantic tags, which senders leave on display names. */
const SEMANTIC_TAG =
  /\((disorder|finding|substance|procedure|situation|qualifier value|observable entity|morphologic abnormality|body structure|regime\/therapy|organism)\)/;
/** A UUID: the portal's ids belong in addresses, never in the words. */
const UUID = /\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/i;

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

/** The signed-in browser of each demo role, kept for the whole file (see signedInOnce). */
const signedIn = signedInOnce(() => portal, () => person(browser));

/** Fails when the words on the page show a code meant for machines. */
async function assertWordsForPeople(page, what) {
  const words = await page.locator('body').innerText();
  for (const [name, pattern] of [
    ['a UCUM code', UCUM],
    ['a SNOMED semantic tag', SEMANTIC_TAG],
    ['a UUID', UUID],
  ]) {
    const found = pattern.exec(words);
    assert.equal(found, null, `${what} shows ${name}: “${found?.[0]}” in …${words.slice(Math.max(0, (found?.index ?? 0) - 80), (found?.index ?? 0) + 80)}…`);
  }
}

/** The record's pages a reader goes through: the sections, and the first item of each list. */
async function readRecord(t, page, patientId, prefix) {
  const base = `/patients/${patientId}`;
  const paths = [base, `${base}/record`, `${base}/medications`, `${base}/results`, `${base}/visits`, `${base}/documents`];
  for (const path of paths) {
    await page.goto(portal.href(path));
    await assertWordsForPeople(page, path);
  }
  // A report, one of its results (with its trend), and a visit with its notes.
  await page.goto(portal.href(`${base}/results`));
  const report = page.locator('main ul.record-list.results > li .item-title a').first();
  await clickThrough(page, report);
  await assertWordsForPeople(page, `a report (${pathOf(page)})`);
  await checkPage(t, page, `${prefix}-words-report`);
  const member = page.locator('main table tbody th a').first();
  await clickThrough(page, member);
  await assertWordsForPeople(page, `a result (${pathOf(page)})`);
  assert.equal(await page.locator('svg.trend').count(), 1, 'a repeated test draws its trend');
  await checkPage(t, page, `${prefix}-words-result`);
  await page.goto(portal.href(`${base}/visits`));
  await clickThrough(page, page.locator('main ul.record-list > li .item-title a').first());
  await assertWordsForPeople(page, `a visit (${pathOf(page)})`);
  await checkPage(t, page, `${prefix}-words-visit`);
  await page.goto(portal.href(`${base}/record`));
  await checkPage(t, page, `${prefix}-words-summary`);
}

describe('words people read', { timeout: SUITE_TIMEOUT_MS }, () => {
  test('the patient, in her own record', async (t) => {
    const { page } = await signedIn('patient');
    await readRecord(t, page, portal.patientId('Sofia Martinez'), 'patient');
  });

  test('a long results list comes in pages', async (t) => {
    const { page } = await signedIn('patient');
    const sofia = portal.patientId('Sofia Martinez');
    await page.goto(portal.href(`/patients/${sofia}/results`));
    const rows = page.locator('main ul.record-list.results > li');
    assert.equal(await rows.count(), 20);
    const paging = page.getByRole('navigation', { name: 'Pages of results' });
    assert.match(await paging.innerText(), /Page 1 of \d+/);
    const first = await rows.first().innerText();
    await clickThrough(page, paging.getByRole('link', { name: 'Older results' }));
    assert.match(await paging.innerText(), /Page 2 of \d+/);
    assert.ok((await rows.count()) > 0);
    assert.notEqual(await rows.first().innerText(), first, 'the next page lists other results');
    await checkPage(t, page, 'patient-results-page-2');
    await clickThrough(page, paging.getByRole('link', { name: 'Newer results' }));
    assert.equal(await rows.first().innerText(), first);
  });

  test('the parent, in her son’s record', async (t) => {
    const { page } = await signedIn('patient');
    const leo = portal.patientId('Leo Martinez');
    await page.goto(portal.href(`/patients/${leo}`));
    assert.match(await page.locator('.patient-banner').innerText(), /You are viewing Leo's record as his parent./);
    await page.goto(portal.href(`/patients/${leo}/record`));
    await assertWordsForPeople(page, 'Leo’s summary');
    await page.goto(portal.href(`/patients/${leo}/visits`));
    await clickThrough(page, page.locator('main ul.record-list > li .item-title a').first());
    await assertWordsForPeople(page, `Leo’s visit (${pathOf(page)})`);
    await checkPage(t, page, 'parent-words-visit');
    // A real Synthea record she opens as a parent: its pages read the same way.
    const [, sandee] = portal.demo.patients.find(([name]) => name.startsWith('Sandee'));
    for (const path of ['', '/record', '/medications', '/results', '/visits', '/documents']) {
      await page.goto(portal.href(`/patients/${sandee}${path}`));
      await assertWordsForPeople(page, `Sandee's ${path || 'home'}`);
    }
    await page.goto(portal.href(`/patients/${sandee}/visits`));
    const visits = page.locator('main ul.record-list > li .item-title a');
    for (const href of (await visits.evaluateAll((links) => links.map((a) => a.getAttribute('href')))).slice(0, 5)) {
      await page.goto(portal.href(href));
      await assertWordsForPeople(page, `Sandee's visit ${href}`);
    }
    // The family's records on her home, each with its age.
    await page.goto(portal.href('/'));
    const family = page.getByRole('navigation', { name: 'Your family’s records' });
    assert.match(await family.innerText(), /Leo Martinez[\s\S]*Age \d+/);
  });

  test('the clinician, in the patient’s record', async (t) => {
    const { page } = await signedIn('clinician');
    const sofia = portal.patientId('Sofia Martinez');
    await page.goto(portal.href(`/patients/${sofia}/record`));
    await assertWordsForPeople(page, 'the clinician’s summary');
    const text = await page.locator('main').innerText();
    assert.doesNotMatch(text, /tell your care team|your clinic can tell you/i, 'words for the patient on a clinic page');
    assert.match(await page.locator('footer').innerText(), /logged under your name/);
    await checkPage(t, page, 'clinician-words-summary');
  });
});

/** A thyroid panel: a report listing two results, as a lab's system sends it. */
function thyroidPanel(patient) {
  const urn = () => `urn:uuid:${randomUUID()}`;
  const [tsh, t4, report] = [urn(), urn(), urn()];
  const result = (fullUrl, code, name, value, unit, low, high) => ({
    fullUrl,
    request: { method: 'POST', url: 'Observation' },
    resource: {
      resourceType: 'Observation',
      status: 'final',
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] }],
      code: { coding: [{ system: 'http://loinc.org', code, display: name }], text: name },
      subject: { reference: `Patient/${patient}` },
      effectiveDateTime: '2026-11-20T08:30:00+00:00',
      valueQuantity: { value, unit, system: 'http://unitsofmeasure.org', code: unit },
      referenceRange: [{ low: { value: low, unit }, high: { value: high, unit } }],
    },
  });
  return {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      result(tsh, '3016-3', 'Thyrotropin [Units/volume] in Serum or Plasma', 2.1, 'm[IU]/L', 0.4, 4.0),
      result(t4, '3024-7', 'Thyroxine (T4) free [Mass/volume] in Serum or Plasma', 1.3, 'ng/dL', 0.8, 1.8),
      {
        fullUrl: report,
        request: { method: 'POST', url: 'DiagnosticReport' },
        resource: {
          resourceType: 'DiagnosticReport',
          status: 'final',
          category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0074', code: 'LAB' }] }],
          code: { text: 'Thyroid function panel' },
          subject: { reference: `Patient/${patient}` },
          effectiveDateTime: '2026-11-20T08:30:00+00:00',
          result: [{ reference: tsh }, { reference: t4 }],
          conclusion: 'Thyroid function within normal limits.',
        },
      },
    ],
  };
}

describe('result release, end to end', { timeout: SUITE_TIMEOUT_MS }, () => {
  test('held, invisible to the patient, released by the clinician as one report, then all there', async (t) => {
    const { context, page: admin } = await person(browser);
    try {
      await signIn(admin, portal, portal.account('admin'));
      await admin.goto(portal.href('/admin/results-release'));
      await admin.getByLabel('Category code', { exact: true }).fill('laboratory');
      await clickThrough(admin, admin.getByRole('button', { name: 'Save', exact: true }));
      assert.match(await admin.locator('main').innerText(), /Saved\./);
      await checkPage(t, admin, 'admin-release-saved');

      // The lab sends a panel for Sofia; her FHIR id is the one her record was sent with.
      const sofia = portal.patientId('Sofia Martinez');
      const token = await portal.createApiToken('e2e thyroid lab', 'system/*.write');
      await portal.sendFhir(token, thyroidPanel('de300000-0000-4000-8000-000000000001'));

      const { page: patient } = await signedIn('patient');
      await patient.goto(portal.href(`/patients/${sofia}/results`));
      const list = await patient.locator('main').innerText();
      for (const secret of ['Thyroid function panel', 'Thyrotropin', 'Thyroxine']) {
        assert.ok(!list.includes(secret), `the patient sees “${secret}” before release`);
      }

      const { page: clinician } = await signedIn('clinician');
      await clinician.goto(portal.href(`/patients/${sofia}/results`));
      const row = clinician.locator('main ul.record-list.results > li', { hasText: 'Thyroid function panel' });
      assert.match(await row.innerText(), /Held: not yet visible to the patient/);
      await clickThrough(clinician, row.locator('.item-title a'));
      assert.equal(await heading(clinician), 'Thyroid function panel');
      assert.equal(await clinician.locator('main table tbody .badge.held').count(), 2, 'both results marked held');
      await checkPage(t, clinician, 'clinician-held-report');
      await clickThrough(
        clinician,
        clinician.getByRole('button', { name: 'Release the report and its results to the patient now' }),
      );
      assert.equal(await clinician.locator('.notice.held').count(), 0);

      await patient.goto(portal.href(`/patients/${sofia}/results`));
      const released = patient.locator('main ul.record-list.results > li', { hasText: 'Thyroid function panel' });
      assert.equal(await released.count(), 1, 'the report is listed');
      await clickThrough(patient, released.locator('.item-title a'));
      const report = await patient.locator('main').innerText();
      for (const shown of ['Thyroid function within normal limits.', '2.1', '1.3 ng/dL']) {
        assert.ok(report.includes(shown), `the released report shows “${shown}”`);
      }
      assert.ok(!report.includes('pending review'), 'nothing of the panel is pending');
      await checkPage(t, patient, 'patient-released-report');

      // The rule goes again, so the other tests of the file see results arrive at once.
      await admin.goto(portal.href('/admin/results-release'));
      await clickThrough(admin, admin.getByRole('button', { name: 'Stop holding laboratory' }));
    } finally {
      await context.close();
    }
  });
});
