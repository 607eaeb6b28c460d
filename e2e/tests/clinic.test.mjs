// The clinic's side in a browser, as the front desk and a doctor use it: the desk finds a new
// patient however her name is typed, e-mails her an activation code from her enrolment page,
// watches her account become active, signs it out everywhere when she calls (after checking
// who she is), and reads the adoption figures; a doctor finds a patient
// who is not on their care team and opens her record with emergency access from the result; the
// privacy officer finds that emergency access in the audit reports; the desk puts the doctor on
// her care team; an admin reads every setting and where it comes from, revokes an API token and
// signs the doctor out everywhere.
// Every page checked with axe at 360 and 1280 px and photographed.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { clickThrough, launchBrowser, PHONE } from '../lib/browser.mjs';
import { checkPage } from '../lib/page-checks.mjs';
import { heading, pathOf, person } from '../lib/pages.mjs';
import { startPortal } from '../lib/portal.mjs';
import { errorSummary, signIn } from '../lib/signin.mjs';

const TEST_TIMEOUT_MS = 180_000;

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

/** Ramona, with an accented, hyphenated name and an e-mail address on her record. */
function ramonaBundle() {
  return {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [{
      fullUrl: `urn:uuid:${randomUUID()}`,
      request: { method: 'POST', url: 'Patient' },
      resource: {
        resourceType: 'Patient',
        identifier: [{
          type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' }] },
          system: 'urn:e2e:mrn',
          value: 'E2E-RAMONA',
        }],
        name: [{ given: ['Ramona'], family: 'Núñez-Ibáñez' }],
        gender: 'female',
        birthDate: '1961-09-30',
        telecom: [{ system: 'email', value: 'ramona.nunez@example.test' }],
      },
    }],
  };
}

describe('the clinic finds and enrols patients', { timeout: TEST_TIMEOUT_MS }, () => {
  let desk;
  let doctor;
  let ramona;

  before(async () => {
    const token = await portal.createApiToken('Clinic EHR', 'system/*.write');
    await portal.sendFhir(token, ramonaBundle());
    desk = await person(browser);
    doctor = await person(browser);
    await signIn(desk.page, portal, portal.account('staff'));
    await signIn(doctor.page, portal, portal.account('clinician'));
  });

  after(async () => {
    await desk?.context.close();
    await doctor?.context.close();
    await ramona?.context.close();
  });

  test('the front desk finds her without her accents and e-mails her a code', async (t) => {
    const { page } = desk;
    await page.setViewportSize(PHONE);
    await page.goto(portal.href('/patients'));
    await page.getByLabel('Find a patient', { exact: true }).fill('ramona nunez');
    await clickThrough(page, page.getByRole('button', { name: 'Search' }));
    const found = await page.locator('main').innerText();
    assert.match(found, /1 patient found/);
    assert.match(found, /Born Sep 30, 1961 · Age \d+ · Female · MRN E2E-RAMONA/);
    await checkPage(t, page, 'clinic-search');
    await clickThrough(page, page.getByRole('link', { name: 'Núñez-Ibáñez, Ramona' }));
    await clickThrough(page, page.getByRole('link', { name: /Portal enrolment/ }));
    assert.equal(await heading(page), 'Portal enrolment');
    assert.match(await page.locator('main').innerText(), /No portal account yet/);
    await checkPage(t, page, 'clinic-enrolment-none');
    await clickThrough(page, page.getByRole('button', { name: 'E-mail a code to ramona.nunez@example.test' }));
    assert.equal(await heading(page), 'Activation code sent');
    await checkPage(t, page, 'clinic-code-sent');
    const mail = await portal.waitForMail(/To: ramona\.nunez@example\.test/);
    const code = mail.match(/Your activation code: ([A-Z0-9-]+)/)[1];

    ramona = await person(browser);
    const own = ramona.page;
    await own.setViewportSize(PHONE);
    await own.goto(portal.href('/activate'));
    await own.getByLabel('Activation code', { exact: true }).fill(code);
    await own.getByLabel('Date of birth', { exact: true }).fill('09/30/1961');
    await own.getByLabel('E-mail', { exact: true }).fill('ramona@example.test');
    await own.getByLabel('Choose a password', { exact: true }).fill('harbour willow ember 42');
    const path = await clickThrough(own, own.getByRole('button', { name: 'Activate' }));
    assert.equal(path, '/signin', `activation was refused: ${await errorSummary(own)}`);

    await clickThrough(page, page.getByRole('link', { name: 'Back to portal enrolment' }));
    const status = await page.locator('main').innerText();
    assert.match(status, /The patient has an active portal account/);
    assert.match(status, /Signs in as ramona@example\.test/);
    assert.doesNotMatch(status, /Print an activation letter/);
    await checkPage(t, page, 'clinic-enrolment-active');

    // She rings: she left herself signed in on a shared computer.
    await page.getByLabel('Sign the account out everywhere').check();
    await clickThrough(page, page.getByRole('button', { name: 'Confirm' }));
    assert.match(await errorSummary(page), /how you checked that the caller holds the account/);
    await checkPage(t, page, 'clinic-account-help-error');
    await page.getByLabel('Sign the account out everywhere').check();
    await page.getByLabel('How you checked who is asking').selectOption('Called back on the phone number in the record');
    await page.getByLabel('Why', { exact: true }).fill('Left signed in on a shared computer');
    await clickThrough(page, page.getByRole('button', { name: 'Confirm' }));
    assert.match(await page.getByRole('status').innerText(), /signed out everywhere/);
    await checkPage(t, page, 'clinic-account-help-done');

    await page.goto(portal.href('/patients'));
    assert.match(await page.locator('main').innerText(), /Patients with an active account/);
    assert.match(await page.locator('main').innerText(), /Opened lately\s+Núñez-Ibáñez, Ramona/);
    await checkPage(t, page, 'clinic-patients-desk');
  });

  test('a doctor opens a record outside the care team from the search result', async (t) => {
    const { page } = doctor;
    await page.setViewportSize(PHONE);
    await page.goto(portal.href('/inbasket'));
    assert.match(await page.locator('nav.kinds').innerText(), /Everything[\s\S]*Messages[\s\S]*Results to release/);
    await checkPage(t, page, 'inbasket-doctor');
    await clickThrough(page, page.getByRole('link', { name: /^Refill requests/ }));
    assert.match(page.url(), /show=refills/);
    assert.doesNotMatch(await page.locator('main').innerText(), /Messages waiting/);
    await checkPage(t, page, 'inbasket-doctor-refills');
    await page.goto(portal.href('/patients'));
    await page.getByLabel('Find a patient', { exact: true }).fill('NUNEZ');
    await clickThrough(page, page.getByRole('button', { name: 'Search' }));
    assert.equal(await page.getByRole('link', { name: 'Núñez-Ibáñez, Ramona' }).count(), 0);
    await page.getByText('Not on your care team: open with emergency access').click();
    await checkPage(t, page, 'clinic-search-doctor');
    await page.getByLabel('Why you need this record now').fill('short');
    await clickThrough(page, page.getByRole('button', { name: "Open Ramona's record" }));
    assert.match(await errorSummary(page), /at least 10 characters/);
    await checkPage(t, page, 'clinic-break-glass-error');
    await page.getByLabel('Why you need this record now').fill('Brought in unconscious, allergies unknown');
    const path = await clickThrough(page, page.getByRole('button', { name: "Open Ramona's record" }));
    assert.match(path, /^\/patients\/[0-9a-f-]+$/);
    assert.match(await page.locator('main').innerText(), /Emergency \(break-glass\) access/);
    await page.goto(portal.href('/patients'));
    const list = await page.locator('main').innerText();
    assert.match(list, /Opened lately\s+Núñez-Ibáñez, Ramona/);
    assert.match(list, /Emergency access open until/);
    await checkPage(t, page, 'clinic-patients-doctor');
    assert.equal(pathOf(page), '/patients');
  });

  test('the front desk puts the doctor on her care team', async (t) => {
    const { page } = desk;
    await page.setViewportSize(PHONE);
    await page.goto(portal.href('/patients'));
    await page.getByLabel('Find a patient', { exact: true }).fill('E2E-RAMONA');
    await clickThrough(page, page.getByRole('button', { name: 'Search' }));
    await clickThrough(page, page.getByRole('link', { name: 'Núñez-Ibáñez, Ramona' }).first());
    await clickThrough(page, page.getByRole('link', { name: /^Care team/ }));
    assert.equal(await heading(page), 'Care team');
    assert.match(await page.locator('main').innerText(), /No clinician is on this patient's care team/);
    await clickThrough(page, page.getByRole('button', { name: 'Put on the care team' }));
    assert.match(await errorSummary(page), /Choose a clinician from the list/);
    await checkPage(t, page, 'clinic-care-team-error');
    const doctorName = portal.account('clinician').name;
    await page.getByLabel('Clinician', { exact: true }).selectOption({ label: doctorName });
    await clickThrough(page, page.getByRole('button', { name: 'Put on the care team' }));
    assert.match(await page.getByRole('status').innerText(), /is on the care team now/);
    assert.match(await page.locator('main').innerText(), /On the care team \(1\)/);
    await checkPage(t, page, 'clinic-care-team');
  });

  test('the privacy officer reviews the emergency access; the admin reads every setting and revokes a token', async (t) => {
    const officer = await person(browser);
    try {
      const { page } = officer;
      await signIn(page, portal, portal.account('admin'));
      await page.goto(portal.href('/admin/audit'));
      await page.getByLabel('Patient (name, date of birth or MRN)').fill('ramona nunez');
      await page.getByLabel('Break-glass and events flagged for review').check();
      const path = await clickThrough(page, page.getByRole('button', { name: 'Search' }));
      assert.equal(path, '/admin/audit');
      assert.doesNotMatch(page.url(), /ramona|nunez/i, 'no name in the address');
      const report = await page.locator('main').innerText();
      assert.match(report, /Events about Ramona Núñez-Ibáñez/);
      assert.match(report, /break-glass opened: Brought in unconscious/);
      await checkPage(t, page, 'audit-report');
      await clickThrough(page, page.getByRole('link', { name: 'Who' }));
      assert.match(page.url(), /sort=who&dir=desc/);

      // The same admin reads every setting and where it comes from, and revokes a token.
      await page.goto(portal.href('/admin/settings'));
      assert.equal(await heading(page), 'Clinic settings');
      const settings = await page.locator('main').innerText();
      assert.match(settings, /Sessions end after this long without use/);
      assert.match(settings, /PORTAL_IDLE_TIMEOUT_MINUTES/);
      await checkPage(t, page, 'admin-settings');
      await page.getByLabel('Minutes without use before a session ends').fill('2');
      await clickThrough(page, page.getByRole('button', { name: 'Save sign-in and sessions' }));
      assert.match(await errorSummary(page), /from 5 to 120/);
      await checkPage(t, page, 'admin-settings-error');
      await page.getByLabel('Minutes without use before a session ends').fill('30');
      await clickThrough(page, page.getByRole('button', { name: 'Save sign-in and sessions' }));
      assert.match(await page.getByRole('status').innerText(), /settings are saved/);
      assert.match(await page.locator('main').innerText(), /without use: 30 minutes\s+Stored by/);
      await page.goto(portal.href('/admin/apps'));
      await page.getByLabel('What it is for (the system\'s name)').fill('Lab system');
      await clickThrough(page, page.getByRole('button', { name: 'Create the token' }));
      assert.match(await errorSummary(page), /Choose what the system may do/);
      await page.getByLabel('Read records (system/*.read)').check();
      await clickThrough(page, page.getByRole('button', { name: 'Create the token' }));
      const shown = await page.locator('code.secret').innerText();
      assert.match(shown, /^ppt_/);
      await checkPage(t, page, 'admin-apps-token');
      await clickThrough(page, page.getByRole('button', { name: 'Revoke the token Lab system' }));
      assert.match(await page.getByRole('status').first().innerText(), /is revoked/);
      assert.doesNotMatch(await page.locator('main').innerText(), new RegExp(shown), 'shown only once');
      await checkPage(t, page, 'admin-apps-revoked');

      // The doctor left themselves signed in on a ward computer: the admin signs them out.
      await page.goto(portal.href('/admin/users'));
      const doctorName = portal.account('clinician').name;
      await clickThrough(page, page.getByRole('link', { name: `Help ${doctorName}` }));
      assert.equal(await heading(page), 'Help with an account');
      await clickThrough(page, page.getByRole('button', { name: 'Confirm' }));
      assert.match(await errorSummary(page), /Choose what to do for the account/);
      await checkPage(t, page, 'admin-user-help-error');
      await page.getByLabel('Sign the account out everywhere').check();
      await page.getByLabel('How you checked who is asking').selectOption('Known to the clinic in person');
      await page.getByLabel('Why', { exact: true }).fill('Left signed in on a ward computer');
      const back = await clickThrough(page, page.getByRole('button', { name: 'Confirm' }));
      assert.equal(back, '/admin/users');
      assert.match(await page.getByRole('status').innerText(), /signed out everywhere/);
    } finally {
      await officer.context.close();
    }
  });
});
