// The portal in a real browser: every page a patient, the clinic and an administrator see, at a
// phone's and a desktop's width, checked with axe and photographed; keyboard use; a patient
// kept out of another's record; and activation of a new account from end to end.
//
// One demo portal serves the whole file. Each demo account signs in once, because the portal
// accepts each authenticator code only once per account.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { clickThrough, DESKTOP, launchBrowser, PHONE } from '../lib/browser.mjs';
import { checkPage, screenshot } from '../lib/page-checks.mjs';
import { followNav, heading, pathOf, person as newPersonAt } from '../lib/pages.mjs';
import { startPortal } from '../lib/portal.mjs';
import { errorSummary, signIn, submitPassword } from '../lib/signin.mjs';

const TEST_TIMEOUT_MS = 90_000;

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

/** A new person at a new browser of this file. */
function person() {
  return newPersonAt(browser);
}

describe('a patient, on her phone and at her desk', { timeout: TEST_TIMEOUT_MS }, () => {
  let context;
  let page;
  let landing;
  let sofiaId;

  before(async () => {
    ({ context, page } = await person());
    sofiaId = portal.patientId('Sofia Martinez');
    landing = await signIn(page, portal, portal.account('patient'));
  });

  after(async () => {
    await context?.close();
  });

  /** Opens the patient's home, as the brand link in the header does. */
  async function home() {
    await page.goto(portal.href('/'));
    assert.equal(pathOf(page), `/patients/${sofiaId}`);
  }

  test('signs in with password and authenticator code and lands on her own home', async (t) => {
    assert.equal(landing, `/patients/${sofiaId}`);
    assert.equal(await heading(page), 'Welcome, Sofia');
    await checkPage(t, page, 'patient-home');
  });

  // [link in the main navigation, the page's path under /patients/{id}, its heading, screenshot]
  for (const [label, path, title, name] of [
    ['Summary', 'record', 'Health summary', 'patient-record'],
    ['Results', 'results', 'Test results', 'patient-results'],
    ['Visits', 'visits', 'Visits', 'patient-visits'],
    ['Documents', 'documents', 'Documents', 'patient-documents'],
    ['Messages', 'messages', 'Messages', 'patient-messages'],
    ['Appointments', 'appointments', 'Appointments', 'patient-appointments'],
  ]) {
    test(`opens ${label} from the navigation`, async (t) => {
      await home();
      await followNav(page, label);
      assert.equal(pathOf(page), `/patients/${sofiaId}/${path}`);
      assert.equal(await heading(page), title);
      assert.match(await page.locator('.patient-banner').innerText(), /Sofia Martinez/);
      // The bar and the "More" menu list the same links for two widths; one is on screen.
      const current = page.getByRole('navigation', { name: 'Main' }).locator('a[aria-current="page"]:visible');
      assert.equal((await current.innerText()).trim(), label);
      await checkPage(t, page, name);
    });
  }

  test('on a phone the menu is one row, and More holds the rest', async (t) => {
    await home();
    await page.setViewportSize(PHONE);
    try {
      const nav = page.getByRole('navigation', { name: 'Main' });
      const links = nav.locator('a:visible, summary:visible');
      const tops = (await Promise.all((await links.all()).map((l) => l.boundingBox()))).map((b) => b.y);
      assert.ok(Math.max(...tops) - Math.min(...tops) < 10, `the menu takes more than one row at ${PHONE.width} px: ${tops}`);
      assert.equal(await nav.getByRole('link', { name: 'Documents', exact: true }).count(), 0);
      await nav.getByText('More', { exact: true }).click();
      await clickThrough(page, nav.getByRole('link', { name: 'Documents', exact: true }));
      assert.equal(pathOf(page), `/patients/${sofiaId}/documents`);
      await checkPage(t, page, 'patient-documents-from-more');
    } finally {
      await page.setViewportSize(DESKTOP);
    }
  });

  test('opens Medications from the summary’s "All medications" link', async (t) => {
    await home();
    await followNav(page, 'Summary');
    const nav = page.getByRole('navigation', { name: 'Main' });
    assert.equal(await nav.getByRole('link', { name: 'Medications', exact: true }).count(), 0);
    await clickThrough(page, page.getByRole('link', { name: 'All medications', exact: true }));
    assert.equal(pathOf(page), `/patients/${sofiaId}/medications`);
    assert.equal(await heading(page), 'Medications');
    assert.match(await page.locator('.patient-banner').innerText(), /Sofia Martinez/);
    await checkPage(t, page, 'patient-medications');
  });

  test('opens her Account page', async (t) => {
    await home();
    await followNav(page, 'Account');
    assert.equal(pathOf(page), '/account');
    assert.equal(await heading(page), 'Account');
    await checkPage(t, page, 'patient-account');
  });

  test('sees who accessed her record, starting from the Account page', async (t) => {
    await page.goto(portal.href('/account'));
    await clickThrough(page, page.getByRole('link', { name: 'Access history of Sofia Martinez' }));
    assert.equal(pathOf(page), `/patients/${sofiaId}/access-log`);
    assert.equal(await heading(page), 'Who accessed this record');
    // Her own visits of this session are in the list.
    assert.match(await page.locator('main .event-list').innerText(), /You viewed the record’s summary|You viewed the record's summary/);
    await checkPage(t, page, 'patient-access-log');
  });

  test('opens her son’s record from "Your family’s records"', async (t) => {
    await home();
    const records = page.getByRole('navigation', { name: 'Your family’s records' });
    await clickThrough(page, records.getByRole('link', { name: 'Leo Martinez' }));
    assert.equal(pathOf(page), `/patients/${portal.patientId('Leo Martinez')}`);
    assert.equal(await heading(page), 'Leo Martinez');
    assert.match(await page.locator('.patient-banner').innerText(), /record as (his|her|their) (parent|caregiver|proxy)\./);
    await checkPage(t, page, 'patient-son-home');
  });

  test('gets "Not found" for another patient’s record, with nothing of it shown', async (t) => {
    const marcusId = portal.patientId('Marcus Chen');
    const response = await page.goto(portal.href(`/patients/${marcusId}`));
    assert.equal(response.status(), 404);
    assert.equal(await heading(page), 'Not found');
    const text = await page.locator('body').innerText();
    assert.doesNotMatch(text, /Marcus|Chen|DEMO-1003|1972-11-05/);
    await checkPage(t, page, 'patient-not-found');
  });
});

describe('pages before sign-in', { timeout: TEST_TIMEOUT_MS }, () => {
  let context;
  let page;

  before(async () => {
    ({ context, page } = await person());
  });

  after(async () => {
    await context?.close();
  });

  test('the sign-in page', async (t) => {
    await page.goto(portal.href('/signin'));
    assert.equal(await heading(page), 'Sign in');
    await checkPage(t, page, 'signin');
  });

  test('the activation page', async (t) => {
    await page.goto(portal.href('/activate'));
    assert.equal(await heading(page), 'Activate your account');
    await checkPage(t, page, 'activate');
  });

  test('the password reset pages: ask for a link, the answer, and the e-mailed link’s form', async (t) => {
    await page.goto(portal.href('/reset'));
    assert.equal(await heading(page), 'Reset your password');
    await checkPage(t, page, 'reset-request');

    const staff = portal.account('staff');
    await page.getByLabel('E-mail', { exact: true }).fill(staff.email);
    await clickThrough(page, page.getByRole('button', { name: 'Send the link' }));
    assert.match(await page.getByRole('status').innerText(), /we have sent it a link/);
    await checkPage(t, page, 'reset-sent');

    const mail = await portal.waitForMail(new RegExp(staff.email.replace(/\./g, '\\.')));
    const link = /\/reset\/[A-Za-z0-9]+/.exec(mail);
    assert.ok(link, `no reset link in the e-mail:\n${mail}`);
    await page.goto(portal.href(link[0]));
    assert.equal(await heading(page), 'Choose a new password');
    await checkPage(t, page, 'reset-form');
  });

  test('a wrong password shows the error summary, linked to the field', async (t) => {
    const patient = portal.account('patient');
    const path = await submitPassword(page, portal, patient.email, 'not-the-password');
    assert.equal(path, '/signin');
    assert.match(await errorSummary(page), /There is a problem[\s\S]*E-mail or password is not right/);
    const summaryLink = page.locator('.error-summary a');
    assert.equal(await summaryLink.getAttribute('href'), '#password');
    assert.equal(await page.getByLabel('Password', { exact: true }).getAttribute('aria-invalid'), 'true');
    await checkPage(t, page, 'signin-wrong-password');
  });

  test('the second-factor page, after a right password', async (t) => {
    // A separate browser: this leaves a half-signed-in session behind.
    const other = await person();
    try {
      const patient = portal.account('patient');
      const path = await submitPassword(other.page, portal, patient.email, patient.password);
      assert.equal(path, '/signin/second-factor');
      assert.equal(await heading(other.page), 'Enter your code');
      await checkPage(t, other.page, 'second-factor');
    } finally {
      await other.context.close();
    }
  });
});

describe('clinic and administration accounts', { timeout: TEST_TIMEOUT_MS }, () => {
  // `listed`: the patients the Patients page lists before any search.
  for (const { role, landing, pages, listed } of [
    {
      role: 'clinician',
      landing: '/inbasket',
      // The demo's own records and the Synthea sample records it loads.
      listed: [
        'Bosco882, Lucien408',
        'Chen, Marcus',
        'Lesch175, Sandee884 Jinny850',
        'Martinez, Leo',
        'Martinez, Sofia',
        'Ramón841, Conchita9 Marilu588',
      ],
      pages: [['In-basket', '/inbasket'], ['Patients', '/patients'], ['Schedule', '/schedule'], ['Account', '/account']],
    },
    {
      role: 'staff',
      landing: '/inbasket',
      listed: [],
      pages: [['In-basket', '/inbasket'], ['Patients', '/patients'], ['Schedule', '/schedule'], ['Account', '/account']],
    },
    {
      role: 'admin',
      landing: '/admin/users',
      listed: [],
      pages: [['Users', '/admin/users'], ['Messaging', '/admin/messaging'], ['Refills', '/admin/refills'], ['Audit', '/admin/audit'], ['Patients', '/patients'], ['Account', '/account']],
    },
  ]) {
    test(`${role} signs in with an authenticator code and opens ${pages.map(([l]) => l).join(', ')}`, async (t) => {
      const { context, page } = await person();
      try {
        assert.equal(await signIn(page, portal, portal.account(role)), landing);
        for (const [label, path] of pages) {
          await followNav(page, label);
          assert.equal(pathOf(page), path);
          if (path === '/patients') {
            const names = await page.locator('main table a').allInnerTexts();
            assert.deepEqual(names.map((n) => n.trim()).sort(), listed);
          }
          await checkPage(t, page, `${role}-${path.split('/').pop()}`);
        }
      } finally {
        await context.close();
      }
    });
  }
});

describe('keyboard', { timeout: TEST_TIMEOUT_MS }, () => {
  let context;
  let page;

  before(async () => {
    ({ context, page } = await person());
  });

  after(async () => {
    await context?.close();
  });

  /** What has the keyboard focus, in words: `a "text"`, `input#id` or `button "text"`. */
  function focused() {
    return page.evaluate(() => {
      const el = document.activeElement;
      const tag = el.tagName.toLowerCase();
      if (tag === 'input' || tag === 'main') {
        return `${tag}#${el.id}`;
      }
      return `${tag} "${el.textContent.trim()}"`;
    });
  }

  test('Tab from the top of /signin goes to the skip link, then the form, with a visible outline', async () => {
    await page.goto(portal.href('/signin'));
    const stops = [];
    let skipLinkBox;
    let emailOutline;
    for (let i = 0; i < 5; i += 1) {
      await page.keyboard.press('Tab');
      stops.push(await focused());
      if (stops[i] === 'a "Skip to main content"') {
        skipLinkBox = await page.locator('a.skip').boundingBox();
      }
      if (stops[i] === 'input#email') {
        emailOutline = await page.evaluate(() => {
          const style = getComputedStyle(document.activeElement);
          return { style: style.outlineStyle, width: style.outlineWidth };
        });
        await screenshot(page, 'signin-focus-360');
      }
    }
    assert.deepEqual(stops, [
      'a "Skip to main content"',
      'a "Patient Portal"',
      'input#email',
      'input#password',
      'button "Sign in"',
    ]);
    assert.ok(
      skipLinkBox && skipLinkBox.x >= 0 && skipLinkBox.y >= 0,
      `the focused skip link is off screen: ${JSON.stringify(skipLinkBox)}`,
    );
    assert.notEqual(emailOutline.style, 'none', 'the focused e-mail field has no outline');
    assert.ok(parseFloat(emailOutline.width) > 0, `the focused e-mail field's outline is ${emailOutline.width} wide`);
  });

  test('the skip link moves the focus to the main content', async () => {
    await page.goto(portal.href('/signin'));
    await page.keyboard.press('Tab');
    assert.equal(await focused(), 'a "Skip to main content"');
    await page.keyboard.press('Enter');
    // Following an in-page link moves the focus in a task of its own: wait for it, briefly.
    await page.waitForFunction(() => document.activeElement?.id === 'main', null, { timeout: 2_000 }).catch(() => {});
    assert.equal(await focused(), 'main#main');
  });
});

describe('activation', { timeout: TEST_TIMEOUT_MS }, () => {
  test('Marcus activates his record with the clinic’s code and signs in without an authenticator', async (t) => {
    const { context, page } = await person();
    try {
      const { code, birth_date: birthDate } = portal.demo.activation;
      const email = 'marcus.chen@example.test';
      const password = 'river lantern copper seven';

      await page.goto(portal.href('/signin'));
      await clickThrough(page, page.getByRole('link', { name: 'Activate your account with a code from the clinic' }));
      assert.equal(await heading(page), 'Activate your account');
      await page.getByLabel('Activation code', { exact: true }).fill(code);
      await page.getByLabel('Date of birth', { exact: true }).fill(birthDate);
      await page.getByLabel('E-mail', { exact: true }).fill(email);
      await page.getByLabel('Choose a password', { exact: true }).fill(password);
      const path = await clickThrough(page, page.getByRole('button', { name: 'Activate' }));
      assert.equal(path, '/signin', `activation was refused: ${await errorSummary(page)}`);
      assert.match(await page.getByRole('status').innerText(), /Your account is ready/);
      await checkPage(t, page, 'signin-activated');

      const landing = await signIn(page, portal, { email, password });
      assert.equal(landing, `/patients/${portal.patientId('Marcus Chen')}`);
      assert.equal(await heading(page), 'Welcome, Marcus');
      await checkPage(t, page, 'new-patient-home');
    } finally {
      await context.close();
    }
  });
});
