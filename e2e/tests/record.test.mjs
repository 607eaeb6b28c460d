// The health record in a real browser: the summary, test results (a report, one result with its
// trend chart), visits with their notes and documents, read by a parent (the demo patient, as
// proxy of her children) and by the demo clinician; the results filter; the print layout; an
// administrator's result-release rules. Every page is checked with axe and photographed at a
// phone's and a desktop's width (see lib/page-checks.mjs).
//
// Before the tests, a lab's system sends three glucose results for the child through the FHIR
// API (POST /fhir with a system token), so one test has a history to draw.
//
// One demo portal serves the whole file, separate from the other test files' portals. Each demo
// account signs in once, because the portal accepts each authenticator code only once per
// account. The administrator's tests come last and undo what they change.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { clickThrough, DESKTOP, launchBrowser, PHONE } from '../lib/browser.mjs';
import { checkPage, screenshot } from '../lib/page-checks.mjs';
import { followNav, heading, pathOf, person } from '../lib/pages.mjs';
import { REPO_DIR, startPortal } from '../lib/portal.mjs';
import { errorSummary, signIn, signedInOnce } from '../lib/signin.mjs';

const SUITE_TIMEOUT_MS = 300_000;

/**
 * A blood glucose measured three times, the second one high: the demo's sample records have no
 * lab test measured more than once, so the tests send these the way a lab's system does.
 */
const GLUCOSE = {
  // The name the lab sends, shown in full on the result's page; lists show the short name.
  fullName: 'Glucose [Mass/volume] in Serum or Plasma',
  title: 'Glucose',
  values: [
    { day: '2024-01-10', shown: 'Jan 10, 2024', value: 92, flag: 'N' },
    { day: '2024-06-10', shown: 'Jun 10, 2024', value: 112, flag: 'H' },
    { day: '2025-01-10', shown: 'Jan 10, 2025', value: 88, flag: 'N' },
  ],
};

/** A FHIR transaction Bundle of GLUCOSE's results for the patient whose FHIR id is `patient`. */
function glucoseBundle(patient) {
  return {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: GLUCOSE.values.map(({ day, value, flag }) => ({
      fullUrl: `urn:uuid:${randomUUID()}`,
      request: { method: 'POST', url: 'Observation' },
      resource: {
        resourceType: 'Observation',
        status: 'final',
        category: [
          { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] },
        ],
        code: { coding: [{ system: 'http://loinc.org', code: '2345-7', display: GLUCOSE.fullName }], text: GLUCOSE.fullName },
        subject: { reference: `Patient/${patient}` },
        effectiveDateTime: `${day}T08:30:00+00:00`,
        valueQuantity: { value, unit: 'mg/dL', system: 'http://unitsofmeasure.org', code: 'mg/dL' },
        interpretation: [
          { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation', code: flag }] },
        ],
        referenceRange: [{ low: { value: 70, unit: 'mg/dL' }, high: { value: 99, unit: 'mg/dL' } }],
      },
    })),
  };
}

/** The FHIR id of the Patient in one of the Synthea Bundles the demo loads (fixtures/synthea). */
async function fixturePatientId(file) {
  const bundle = JSON.parse(await readFile(join(REPO_DIR, 'fixtures', 'synthea', file), 'utf8'));
  return bundle.entry.find((e) => e.resource.resourceType === 'Patient').resource.id;
}

let portal;
let browser;

before(async () => {
  portal = await startPortal();
  browser = await launchBrowser();
  // The child's lab sends her glucose results through the FHIR API.
  const token = await portal.createApiToken('e2e lab', 'system/*.write');
  await portal.sendFhir(token, glucoseBundle(await fixturePatientId('sandee-lesch.json')));
});

after(async () => {
  await browser?.close();
  await portal?.stop();
});

/** The signed-in browser of each demo role, kept for the whole file (see signedInOnce). */
const signedIn = signedInOnce(() => portal, () => person(browser));

/** The demo patient whose name starts with `prefix`: [full name, record id]. */
function demoPatient(prefix) {
  const entry = portal.demo.patients.find(([name]) => name.startsWith(prefix));
  if (!entry) {
    throw new Error(`the demo has no patient called ${prefix}…: ${JSON.stringify(portal.demo.patients)}`);
  }
  return entry;
}

/**
 * The record sections: the link in a patient's main navigation, the link in the "Chart" list a
 * clinician sees on the patient's home, the path under /patients/{id}, and the heading.
 */
const SECTIONS = {
  summary: { nav: 'Summary', chart: 'Health summary', path: 'record', title: 'Health summary' },
  results: { nav: 'Results', chart: 'Test results', path: 'results', title: 'Test results' },
  visits: { nav: 'Visits', chart: 'Visits', path: 'visits', title: 'Visits' },
  documents: { nav: 'Documents', chart: 'Documents', path: 'documents', title: 'Documents' },
  medications: { nav: null, chart: 'Medications', path: 'medications', title: 'Medications' },
};

/**
 * Opens a section of the record `patientId` from that record's home, as `role` does: a patient
 * (or proxy) through the main navigation, the clinic through the home's "Chart" links.
 */
async function openSection(page, role, patientId, key) {
  const section = SECTIONS[key];
  await page.goto(portal.href(`/patients/${patientId}`));
  if (role === 'patient') {
    await followNav(page, section.nav);
  } else {
    const chart = page.getByRole('region', { name: 'Chart' });
    await clickThrough(page, chart.getByRole('link', { name: section.chart, exact: true }));
  }
  assert.equal(pathOf(page), `/patients/${patientId}/${section.path}`);
  assert.equal(await heading(page), section.title);
}

/** The rows of the results list: [{title, href, meta}]. */
async function resultRows(page) {
  return page.locator('main ul.record-list.results > li').evaluateAll((items) =>
    items.map((li) => {
      const link = li.querySelector('.item-title a');
      return {
        title: link.textContent.trim(),
        href: link.getAttribute('href'),
        meta: li.querySelector('.item-meta').textContent.replace(/\s+/g, ' ').trim(),
      };
    }),
  );
}

/** The "Result" cells of the table under "Over time" (the result's history). */
async function historyValues(page) {
  return page.locator('section[aria-labelledby="trend"] table tbody tr td:nth-child(2)').allInnerTexts();
}

/** How many of `values` are numbers (with or without a unit), the ones a chart can draw. */
function numericCount(values) {
  return values.filter((v) => /^[<>≤≥]?=?\s*-?\d+(\.\d+)?(\s|$)/.test(v.trim())).length;
}

/**
 * Checks the "Over time" section of a single result's page: a table of every value always, and
 * the server-drawn chart exactly when at least two values are numbers. Resolves with how many
 * numeric values there are.
 */
async function checkOverTime(page, title) {
  const section = page.locator('section[aria-labelledby="trend"]');
  assert.equal(await section.getByRole('heading', { level: 2 }).innerText(), 'Over time');
  const table = section.locator('table');
  assert.equal(await table.count(), 1, 'no table of the values under "Over time"');
  assert.equal((await table.locator('caption').innerText()).trim(), 'Every result of this test, newest first');
  const values = await historyValues(page);
  assert.ok(values.length >= 1, 'the history table is empty');
  const numeric = numericCount(values);
  const chart = page.locator('svg.trend');
  if (numeric >= 2) {
    assert.equal(await chart.count(), 1, `${numeric} numeric values but no svg.trend`);
    assert.ok(await chart.isVisible(), 'the trend chart is not visible');
    // A picture with a name and a description, so a screen reader says what it shows.
    assert.equal(await chart.getAttribute('role'), 'img');
    const name = await chart.evaluate((svg) =>
      (svg.getAttribute('aria-labelledby') ?? '')
        .split(/\s+/)
        .map((id) => document.getElementById(id)?.textContent ?? '')
        .join(' '),
    );
    assert.ok(name.includes(title), `the chart's accessible name "${name}" does not name ${title}`);
    // One marker per numeric value.
    assert.equal(await chart.locator('circle').count(), numeric);
  } else {
    assert.equal(await chart.count(), 0, `a chart for ${numeric} numeric value(s)`);
  }
  return numeric;
}

/**
 * The record of a child, read by `role` ("patient": the demo patient as the child's proxy, or
 * "clinician": the child's care team). `prefix` names the screenshots.
 */
function childRecordTests(role, prefix) {
  let page;
  let childName;
  let childId;
  /** Where the tests found a report and a visit, for the tests after them. */
  const found = {};

  before(async () => {
    ({ page } = await signedIn(role));
    [childName, childId] = demoPatient('Sandee');
  });

  test(`finds the child's record (${role})`, async (t) => {
    await page.goto(portal.href('/'));
    if (role === 'patient') {
      const records = page.getByRole('navigation', { name: 'Your family’s records' });
      await clickThrough(page, records.getByRole('link', { name: childName, exact: true }));
      assert.match(await page.locator('.patient-banner').innerText(), /record as (his|her|their) (parent|caregiver|proxy)\./);
    } else {
      await followNav(page, 'Patients');
      const [given, family] = [childName.split(' ').slice(0, -1).join(' '), childName.split(' ').at(-1)];
      await clickThrough(page, page.locator('main table').getByRole('link', { name: `${family}, ${given}`, exact: true }));
      const chart = page.getByRole('region', { name: 'Chart' });
      for (const key of ['summary', 'results', 'visits', 'documents', 'medications']) {
        assert.equal(
          await chart.getByRole('link', { name: SECTIONS[key].chart, exact: true }).count(),
          1,
          `no "${SECTIONS[key].chart}" link on the patient's home`,
        );
      }
    }
    assert.equal(pathOf(page), `/patients/${childId}`);
    assert.match(await page.locator('.patient-banner').innerText(), new RegExp(childName));
    await checkPage(t, page, `${prefix}-home`);
  });

  test(`the Health summary, and all medications from it (${role})`, async (t) => {
    await openSection(page, role, childId, 'summary');
    assert.match(await page.locator('.patient-banner').innerText(), new RegExp(childName));
    for (const name of ['Problems', 'Allergies and intolerances', 'Current medications', 'Immunizations', 'Latest vital signs']) {
      assert.equal(await page.getByRole('heading', { level: 2, name, exact: true }).count(), 1, `no "${name}" section`);
    }
    await checkPage(t, page, `${prefix}-summary`);

    await clickThrough(page, page.getByRole('link', { name: 'All medications', exact: true }));
    assert.equal(pathOf(page), `/patients/${childId}/medications`);
    assert.equal(await heading(page), 'Medications');
    await checkPage(t, page, `${prefix}-medications`);
  });

  test(`Test results: a list with a filter (${role})`, async (t) => {
    await openSection(page, role, childId, 'results');
    const rows = await resultRows(page);
    assert.ok(rows.length > 1, `only ${rows.length} result(s) listed`);
    for (const label of ['Test name', 'From (MM/DD/YYYY)', 'To (MM/DD/YYYY)']) {
      assert.equal(await page.getByLabel(label, { exact: true }).count(), 1, `no "${label}" field`);
    }
    assert.equal(await page.getByRole('button', { name: 'Show results' }).count(), 1);
    await checkPage(t, page, `${prefix}-results`);
  });

  test(`a report: its results in a table (${role})`, async (t) => {
    await openSection(page, role, childId, 'results');
    const report = (await resultRows(page)).find((row) => / · (\d+) results\b/.test(row.meta));
    assert.ok(report, 'no report (a row with "N results") in the results list');
    const members = Number(/ · (\d+) results\b/.exec(report.meta)[1]);
    await clickThrough(page, page.locator(`main a[href="${report.href}"]`));
    assert.equal(pathOf(page), report.href);
    assert.equal(await heading(page), report.title);
    const table = page.locator('main table', { has: page.locator('caption', { hasText: 'Results in this report' }) });
    assert.equal(await table.count(), 1, 'no "Results in this report" table');
    const headers = (await table.locator('thead th').allInnerTexts()).map((h) => h.trim());
    assert.deepEqual(headers, ['Test', 'Result', 'Reference range', 'Flag']);
    assert.equal(await table.locator('tbody tr').count(), members);
    assert.equal(await table.locator('tbody th[scope="row"] a').count(), members, 'not every result links to its page');
    // A report has no single value and no history of its own.
    assert.equal(await page.locator('dl.result-value').count(), 0);
    found.report = report.href;
    await checkPage(t, page, `${prefix}-result-report`);
  });

  test(`one result from the report: value, range, flag and "Over time" (${role})`, async (t) => {
    assert.ok(found.report, 'the report test found no report');
    await page.goto(portal.href(found.report));
    const link = page.locator('main table tbody th a').first();
    const title = (await link.innerText()).trim();
    await clickThrough(page, link);
    assert.match(pathOf(page), new RegExp(`^/patients/${childId}/results/[0-9a-f-]{36}$`));
    assert.equal(await heading(page), title);
    const terms = (await page.locator('dl.result-value dt').allInnerTexts()).map((d) => d.trim());
    assert.deepEqual(terms, ['Result', 'Reference range', 'Flag']);
    assert.notEqual((await page.locator('dl.result-value dd.value').innerText()).trim(), '');
    await checkOverTime(page, title);
    await clickThrough(page, page.getByRole('link', { name: 'All test results', exact: true }));
    assert.equal(pathOf(page), `/patients/${childId}/results`);
    await page.goBack();
    await checkPage(t, page, `${prefix}-result-single`);
  });

  test(`Visits, and a visit with its diagnoses and notes (${role})`, async (t) => {
    await openSection(page, role, childId, 'visits');
    const visits = page.locator('main ul.record-list > li .item-title a');
    assert.ok((await visits.count()) > 0, 'no visits listed');
    await checkPage(t, page, `${prefix}-visits`);

    // The newest visit with notes: the list is newest first.
    const first = visits.first();
    const title = (await first.innerText()).trim();
    await clickThrough(page, first);
    assert.match(pathOf(page), new RegExp(`^/patients/${childId}/visits/[0-9a-f-]{36}$`));
    assert.equal(await heading(page), title);
    const facts = (await page.locator('dl.facts dt').allInnerTexts()).map((d) => d.trim());
    for (const term of ['When', 'Clinician', 'Where']) {
      assert.ok(facts.includes(term), `the visit's facts have no "${term}": ${facts.join(', ')}`);
    }
    assert.equal(await page.getByRole('heading', { level: 2, name: 'Diagnoses', exact: true }).count(), 1);
    assert.equal(await page.getByRole('heading', { level: 2, name: 'Visit notes', exact: true }).count(), 1);
    const notes = page.locator('.note-text');
    assert.ok((await notes.count()) > 0, 'the visit shows no note');
    assert.notEqual((await notes.first().innerText()).trim(), '');
    found.visit = pathOf(page);
    await checkPage(t, page, `${prefix}-visit`);
  });

  test(`"All visits" on a visit's page goes back to the list (${role})`, async () => {
    assert.ok(found.visit, 'the visits test found no visit');
    await page.goto(portal.href(found.visit));
    await clickThrough(page, page.getByRole('link', { name: 'All visits', exact: true }));
    assert.equal(pathOf(page), `/patients/${childId}/visits`);
    assert.equal(await heading(page), 'Visits');
  });

  test(`a result with many values: its trend chart and the same values as a table (${role})`, async (t) => {
    await openSection(page, role, childId, 'results');
    const high = (await resultRows(page)).find((row) => row.title === GLUCOSE.title && /\bHigh\b/.test(row.meta));
    assert.ok(high, `no high ${GLUCOSE.title} in the results list`);
    await clickThrough(page, page.locator(`main a[href="${high.href}"]`));
    assert.equal(await heading(page), GLUCOSE.title);
    assert.equal((await page.locator('p.full-name').innerText()).trim(), `Full name: ${GLUCOSE.fullName}`);
    assert.equal((await page.locator('dl.result-value dd.value').innerText()).trim(), '112 mg/dL');
    assert.equal((await page.locator('dl.result-value .flag').innerText()).trim(), 'High');
    const numeric = await checkOverTime(page, GLUCOSE.title);
    assert.equal(numeric, GLUCOSE.values.length);
    // Newest first in the table, this result marked in the chart, the high one by a shape too.
    const dates = await page.locator('section[aria-labelledby="trend"] tbody th').allInnerTexts();
    assert.deepEqual(dates.map((d) => d.trim()), GLUCOSE.values.map((v) => v.shown).reverse());
    const chart = page.locator('svg.trend');
    assert.equal(await chart.locator('circle.highlight').count(), 1);
    assert.equal(await chart.locator('path.out-of-range').count(), 1);
    assert.match(await chart.locator('circle.highlight title').textContent(), /Jun 10, 2024.*112.*outside the reference range/);
    await checkPage(t, page, `${prefix}-result-trend`);
    // At a phone's width the chart shrinks to fit.
    await page.setViewportSize(PHONE);
    const box = await chart.boundingBox();
    assert.ok(box.x >= 0 && box.x + box.width <= PHONE.width, `the chart is ${JSON.stringify(box)} in a ${PHONE.width} px window`);
    await page.setViewportSize(DESKTOP);
  });

  test(`Documents: each link downloads the document (${role})`, async (t) => {
    await openSection(page, role, childId, 'documents');
    const links = page.locator('main ul.record-list > li .item-title a');
    assert.ok((await links.count()) > 0, 'no documents listed');
    await checkPage(t, page, `${prefix}-documents`);

    const href = await links.first().getAttribute('href');
    assert.match(href, new RegExp(`^/patients/${childId}/documents/[0-9a-f-]{36}$`));
    const [download] = await Promise.all([page.waitForEvent('download'), links.first().click()]);
    const name = download.suggestedFilename();
    assert.doesNotMatch(name, new RegExp(childName.split(' ').join('|')), `the file name ${name} names the patient`);
    const text = await readFile(await download.path(), 'utf8');
    assert.ok(text.trim().length > 0, `the downloaded ${name} is empty`);
    // Text comes as plain text to save, never as a page the browser would render.
    const response = await page.request.get(portal.href(href));
    assert.equal(response.status(), 200);
    assert.match(response.headers()['content-type'], /^text\/plain/);
    assert.match(response.headers()['content-disposition'], /^attachment/);
    assert.equal(response.headers()['x-content-type-options'], 'nosniff');
  });
}

describe('a parent reads her daughter’s record', { timeout: SUITE_TIMEOUT_MS }, () => {
  childRecordTests('patient', 'proxy-child');
});

describe('the clinician reads the same child’s record', { timeout: SUITE_TIMEOUT_MS }, () => {
  childRecordTests('clinician', 'clinician-child');
});

describe('the results filter, print, and an empty record, as the parent', { timeout: SUITE_TIMEOUT_MS }, () => {
  let page;
  let childId;

  before(async () => {
    ({ page } = await signedIn('patient'));
    [, childId] = demoPatient('Sandee');
  });

  test('a test name that exists shows fewer results, all of that test; Back returns to the list', async (t) => {
    await openSection(page, 'patient', childId, 'results');
    const all = await resultRows(page);
    // The short name the list shows ("Peanut allergy test"), not the lab's ("Peanut IgE Ab …").
    const name = 'allergy test';
    assert.ok(all.some((row) => row.title.includes(name)), `no ${name} result to filter for`);
    await page.getByLabel('Test name', { exact: true }).fill(name);
    await clickThrough(page, page.getByRole('button', { name: 'Show results' }));
    assert.equal(pathOf(page), `/patients/${childId}/results`);
    // The filtered list has an address of its own, without the test name in it.
    const filtered = new URL(page.url());
    assert.match(filtered.search, /^\?filter=[a-z0-9]+$/);
    assert.doesNotMatch(page.url(), /allergy/i);
    const rows = await resultRows(page);
    assert.ok(rows.length > 0, `nothing listed for "${name}"`);
    assert.ok(rows.length < all.length, `the filter kept all ${all.length} results`);
    for (const row of rows) {
      assert.match(row.title, new RegExp(name, 'i'));
    }
    assert.equal(await page.getByLabel('Test name', { exact: true }).inputValue(), name);
    assert.equal(await page.getByRole('link', { name: 'Show all', exact: true }).count(), 1);
    await checkPage(t, page, 'proxy-results-filtered');

    // Into one result and Back: the filtered list again, with no form sent a second time.
    const posts = [];
    const onRequest = (r) => r.method() === 'POST' && posts.push(r.url());
    page.on('request', onRequest);
    try {
      await clickThrough(page, page.locator(`main a[href="${rows[0].href}"]`));
      assert.equal(pathOf(page), rows[0].href);
      await page.goBack();
      assert.equal(page.url(), filtered.href);
      assert.equal((await resultRows(page)).length, rows.length);
      assert.equal(await page.getByLabel('Test name', { exact: true }).inputValue(), name);
      await page.goBack();
      assert.equal(pathOf(page), `/patients/${childId}/results`);
      assert.equal((await resultRows(page)).length, all.length, 'Back again: the whole list');
      assert.deepEqual(posts, [], 'Back never sends the filter form again');
    } finally {
      page.off('request', onRequest);
    }
    await page.goForward();
    assert.equal(page.url(), filtered.href);

    await clickThrough(page, page.getByRole('link', { name: 'Show all', exact: true }));
    assert.equal((await resultRows(page)).length, all.length);
  });

  test('a date the clinic\'s calendar does not have shows the error summary, linked to the field', async (t) => {
    await openSection(page, 'patient', childId, 'results');
    await page.getByLabel('From (MM/DD/YYYY)', { exact: true }).fill('31/12/2024');
    const answer = page.waitForResponse((r) => r.request().method() === 'POST');
    await clickThrough(page, page.getByRole('button', { name: 'Show results' }));
    assert.equal((await answer).status(), 422);
    assert.match(await errorSummary(page), /There is a problem[\s\S]*From: enter a date as MM\/DD\/YYYY/);
    assert.equal(await page.locator('.error-summary a').first().getAttribute('href'), '#from');
    assert.equal(await page.getByLabel('From (MM/DD/YYYY)', { exact: true }).inputValue(), '31/12/2024');
    await checkPage(t, page, 'proxy-results-bad-date');
  });

  test('printing a result leaves out the navigation, and keeps the chart', async () => {
    await openSection(page, 'patient', childId, 'results');
    const glucose = (await resultRows(page)).find((row) => row.title === GLUCOSE.title);
    assert.ok(glucose, `no ${GLUCOSE.title} in the results list`);
    await clickThrough(page, page.locator(`main a[href="${glucose.href}"]`));
    assert.equal(await page.locator('svg.trend').count(), 1);
    const nav = page.getByRole('navigation', { name: 'Main' });
    assert.ok(await nav.isVisible(), 'the main navigation is hidden on screen');
    await page.setViewportSize(DESKTOP);
    try {
      await page.emulateMedia({ media: 'print' });
      assert.ok(await nav.isHidden(), 'the main navigation is printed');
      assert.ok(await page.locator('header.site').isHidden(), 'the site header is printed');
      assert.ok(await page.locator('.patient-banner').isVisible(), 'the patient banner is not printed');
      assert.ok(await page.locator('svg.trend').isVisible(), 'the trend chart is not printed');
      await screenshot(page, 'proxy-result-print-1280');
    } finally {
      await page.emulateMedia({ media: null });
    }
    assert.ok(await nav.isVisible(), 'the main navigation stays hidden after printing');
  });

});

describe('an empty record, as the clinician', { timeout: SUITE_TIMEOUT_MS }, () => {
  // Marcus Chen's record (a demo record, on the clinician's care team) holds nothing yet: the
  // empty pages say so, in words for the clinic.
  for (const [key, empty] of [
    ['summary', /No current problems are recorded/],
    ['results', /No test results yet/],
    ['visits', /No visits are recorded/],
    ['documents', /No documents are recorded/],
  ]) {
    test(`an empty ${SECTIONS[key].title} says there is nothing yet`, async (t) => {
      const { page } = await signedIn('clinician');
      const marcusId = portal.patientId('Marcus Chen');
      await openSection(page, 'clinician', marcusId, key);
      const text = await page.locator('main').innerText();
      assert.match(text, empty);
      assert.doesNotMatch(text, /tell your care team|ask your clinic/i, 'words for the patient on a clinic page');
      await checkPage(t, page, `clinician-empty-${SECTIONS[key].path}`);
    });
  }
});

describe('the clinician opens a care-team patient’s results', { timeout: SUITE_TIMEOUT_MS }, () => {
  test('from the patient list to the results and one result', async (t) => {
    const { page } = await signedIn('clinician');
    const [, lucienId] = demoPatient('Lucien');
    await page.goto(portal.href('/inbasket'));
    await followNav(page, 'Patients');
    await clickThrough(page, page.locator('main table').getByRole('link', { name: 'Bosco882, Lucien408', exact: true }));
    assert.equal(pathOf(page), `/patients/${lucienId}`);

    await openSection(page, 'clinician', lucienId, 'results');
    assert.match(await page.locator('main').innerText(), /Results marked “Held” are not yet visible to the patient/);
    const rows = await resultRows(page);
    assert.ok(rows.length > 0, 'no results listed');
    await checkPage(t, page, 'clinician-results');

    await clickThrough(page, page.locator(`main a[href="${rows[0].href}"]`));
    assert.equal(pathOf(page), rows[0].href);
    assert.equal(await heading(page), rows[0].title);
    await checkPage(t, page, 'clinician-result');
  });
});

// Last: it changes the clinic's rules, and puts them back.
describe('the administrator’s result-release rules', { timeout: SUITE_TIMEOUT_MS }, () => {
  test('refuses a bad number of days, holds a category, lists it, and stops holding it', async (t) => {
    const { context, page } = await person(browser);
    try {
      await signIn(page, portal, portal.account('admin'));
      await followNav(page, 'Result release');
      assert.equal(pathOf(page), '/admin/results-release');
      assert.equal(await heading(page), 'Result release');
      assert.match(await page.locator('main').innerText(), /No categories are held/);
      await checkPage(t, page, 'admin-results-release');

      const category = page.getByLabel('Category code', { exact: true });
      const days = page.getByLabel('Days to hold', { exact: true });
      const save = page.getByRole('button', { name: 'Save', exact: true });

      for (const bad of ['ten', '0', '400']) {
        await category.fill('imaging');
        await days.fill(bad);
        const answer = page.waitForResponse((r) => r.request().method() === 'POST');
        await clickThrough(page, save);
        assert.equal((await answer).status(), 422, `Days "${bad}" was not refused`);
        assert.match(await errorSummary(page), /There is a problem[\s\S]*Days: enter a whole number from 1 to 365/);
        assert.equal(await page.locator('.error-summary a').first().getAttribute('href'), '#days');
        assert.equal(await days.inputValue(), bad, 'the refused value is not shown again');
        assert.match(await page.locator('main').innerText(), /No categories are held/);
      }
      await checkPage(t, page, 'admin-results-release-error');

      await category.fill('imaging');
      await days.fill('7');
      assert.equal(await clickThrough(page, save), '/admin/results-release');
      assert.equal(await errorSummary(page), '');
      assert.match(await page.locator('main').innerText(), /Saved\./);
      const table = page.locator('main table', { has: page.locator('caption', { hasText: 'Categories in the records, and the rule for each' }) });
      const row = table.locator('tbody tr', { has: page.locator('th', { hasText: /^imaging/ }) });
      assert.equal(await row.count(), 1, 'the new hold is not listed');
      assert.match(await row.innerText(), /Held 7 days/);
      // The categories the records hold are listed with their counts, laboratory among them.
      const lab = table.locator('tbody tr', { has: page.locator('th', { hasText: /^laboratory/ }) });
      assert.match(await lab.innerText(), /Released at once/);
      await checkPage(t, page, 'admin-results-release-held');

      await clickThrough(page, page.getByRole('button', { name: 'Stop holding imaging', exact: true }));
      assert.equal(pathOf(page), '/admin/results-release');
      assert.match(await row.innerText(), /Released at once/, 'the hold is still listed');
      assert.match(await page.locator('main').innerText(), /No categories are held/);
    } finally {
      await context.close();
    }
  });
});
