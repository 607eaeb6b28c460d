// Proxy access on a phone (360 px), as a family uses it: the front desk grants a mother access to
// her 15-year-old daughter after checking her passport; the mother accepts the e-mailed
// invitation with her own account and, by the age rules, sees her daughter's appointments and
// messages only. The daughter activates her own account, sees who holds access and gives her
// mother full access; her confidential item stays hidden. The mother switches between her two
// young children, books a visit for one and writes to the nurse line for the other, the page
// always saying whose record it is. Every page checked with axe at both widths and photographed.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { clickThrough, launchBrowser, PHONE } from '../lib/browser.mjs';
import { checkPage } from '../lib/page-checks.mjs';
import { heading, pathOf, person } from '../lib/pages.mjs';
import { startPortal } from '../lib/portal.mjs';
import { errorSummary, signIn } from '../lib/signin.mjs';

const TEST_TIMEOUT_MS = 180_000;
const ACT_CODE = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';

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

/** Maya, 15: asthma, and a condition her clinic labelled as mental health. */
function mayaBundle() {
  const patient = `urn:uuid:${randomUUID()}`;
  const condition = (text, security) => ({
    fullUrl: `urn:uuid:${randomUUID()}`,
    request: { method: 'POST', url: 'Condition' },
    resource: {
      resourceType: 'Condition',
      ...(security ? { meta: { security: [{ system: ACT_CODE, code: security }] } } : {}),
      clinicalStatus: { coding: [{ code: 'active' }] },
      code: { text },
      subject: { reference: patient },
      onsetDateTime: '2025-03-01',
    },
  });
  return {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      {
        fullUrl: patient,
        request: { method: 'POST', url: 'Patient' },
        resource: {
          resourceType: 'Patient',
          identifier: [{
            type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' }] },
            system: 'urn:e2e:mrn',
            value: 'E2E-MAYA',
          }],
          name: [{ given: ['Maya'], family: 'Martinez' }],
          gender: 'female',
          birthDate: `${new Date().getUTCFullYear() - 15}-01-15`,
        },
      },
      condition('Asthma'),
      condition('Anxiety disorder', 'PSY'),
    ],
  };
}

describe('a family shares access by the age rules', { timeout: TEST_TIMEOUT_MS }, () => {
  let desk;
  let mother;
  let maya;
  let mayaId;
  let activationCode;

  before(async () => {
    const token = await portal.createApiToken('Clinic EHR', 'system/*.write');
    await portal.sendFhir(token, mayaBundle());
    desk = await person(browser);
    mother = await person(browser);
    await mother.page.setViewportSize(PHONE);
    await desk.page.setViewportSize(PHONE);
    await signIn(desk.page, portal, portal.account('staff'));
    await signIn(mother.page, portal, portal.account('patient'));
  });

  after(async () => {
    await desk?.context.close();
    await mother?.context.close();
    await maya?.context.close();
  });

  test('the front desk checks the mother\'s passport and invites her', async (t) => {
    const { page } = desk;
    await page.goto(portal.href('/patients'));
    await page.getByLabel('Find a patient', { exact: true }).fill('Maya');
    await clickThrough(page, page.getByRole('button', { name: 'Search' }));
    await clickThrough(page, page.getByRole('link', { name: 'Martinez, Maya' }));
    mayaId = pathOf(page).split('/')[2];
    await clickThrough(page, page.getByRole('link', { name: /Proxy access/ }));
    assert.equal(await heading(page), 'Proxy access');
    assert.match(await page.locator('main').innerText(), /between 12 and 17/);
    await page.getByLabel('Their e-mail address').fill(portal.account('patient').email);
    await clickThrough(page, page.getByRole('button', { name: 'Send the invitation' }));
    assert.match(await errorSummary(page), /Note the identity document/);
    await page.getByLabel('Identity document checked').selectOption({ label: 'Passport' });
    await clickThrough(page, page.getByRole('button', { name: 'Send the invitation' }));
    assert.match(await page.getByRole('status').innerText(), /An invitation was sent/);
    await checkPage(t, page, 'proxies-clinic');
  });

  test('the mother accepts with her own account and sees appointments and messages only', async (t) => {
    const { page } = mother;
    const mail = await portal.waitForMail(/\/proxy-invitations\/[a-z0-9]+/);
    assert.doesNotMatch(mail, /Maya/, 'the e-mail names nobody');
    const link = /\/proxy-invitations\/[a-z0-9]+/.exec(mail)[0];
    await page.goto(portal.href(link));
    assert.equal(await heading(page), 'Proxy invitation');
    assert.match(await page.locator('main').innerText(), /for Maya Martinez/);
    await checkPage(t, page, 'proxy-invitation');
    await clickThrough(page, page.getByRole('button', { name: 'Accept' }));
    assert.equal(pathOf(page), `/patients/${mayaId}`);
    const banner = await page.locator('.patient-banner').innerText();
    assert.match(banner, /You are viewing Maya's appointments and messages as her parent\./);
    assert.match(banner, /health record is not shared with you/);
    const record = await page.goto(portal.href(`/patients/${mayaId}/record`));
    assert.equal(record.status(), 404);
  });

  test('Maya activates her own account and gives her mother full access', async (t) => {
    const { page } = desk;
    await page.goto(portal.href(`/patients/${mayaId}`));
    await clickThrough(page, page.getByRole('link', { name: /Portal enrolment/ }));
    await clickThrough(page, page.getByRole('button', { name: 'Print an activation letter' }));
    activationCode = (await page.locator('.big-code code').innerText()).trim();
    maya = await person(browser);
    const teen = maya.page;
    await teen.setViewportSize(PHONE);
    await teen.goto(portal.href('/activate'));
    await teen.getByLabel('Activation code', { exact: true }).fill(activationCode);
    const born = mayaBundle().entry[0].resource.birthDate.split('-');
    await teen.getByLabel('Date of birth', { exact: true }).fill(`${born[1]}/${born[2]}/${born[0]}`);
    await teen.getByLabel('E-mail', { exact: true }).fill('maya@example.test');
    await teen.getByLabel('Choose a password', { exact: true }).fill('river lantern copper seven');
    const path = await clickThrough(teen, teen.getByRole('button', { name: 'Activate' }));
    assert.equal(path, '/signin', `activation was refused: ${await errorSummary(teen)}`);
    await signIn(teen, portal, { email: 'maya@example.test', password: 'river lantern copper seven' });
    await teen.goto(portal.href('/account'));
    await clickThrough(teen, teen.getByRole('link', { name: 'People who can see my record' }));
    assert.equal(await heading(teen), 'Who can see your record');
    const main = await teen.locator('main').innerText();
    assert.match(main, /Sofia Martinez/);
    assert.match(main, /Appointments and messages only/);
    assert.match(main, /Until you turn 18/);
    await checkPage(t, teen, 'proxies-teen');
    await clickThrough(teen, teen.getByRole('button', { name: 'Give Sofia Martinez full access' }));
    assert.match(await teen.getByRole('status').innerText(), /full access/);
    await checkPage(t, teen, 'proxies-teen-full');
  });

  test('the mother now reads Maya\'s record, without the confidential item', async (t) => {
    const { page } = mother;
    await page.goto(portal.href(`/patients/${mayaId}/record`));
    assert.match(await page.locator('.patient-banner').innerText(), /You are viewing Maya's record as her parent\./);
    const main = await page.locator('main').innerText();
    assert.match(main, /Asthma/);
    assert.doesNotMatch(main, /Anxiety/);
    await checkPage(t, page, 'proxy-teen-record');
  });

  test('she switches between her young children, books for one and writes about the other', async (t) => {
    const { page } = mother;
    const leoId = portal.patientId('Leo Martinez');
    await page.goto(portal.href(`/patients/${leoId}`));
    const family = page.getByRole('navigation', { name: 'Your family’s records' });
    assert.match(await family.innerText(), /Maya Martinez/);
    await checkPage(t, page, 'proxy-family');
    await clickThrough(page, family.getByRole('link', { name: /Conchita/ }));
    const conchitaId = pathOf(page).split('/')[2];
    assert.match(await page.locator('.patient-banner').innerText(), /You are viewing Conchita[^']*'s record as her parent\./);
    await page.goto(portal.href(`/patients/${conchitaId}/appointments/new`));
    await page.getByLabel('Kind of visit').selectOption({ label: 'Video visit (20 minutes, by video)' });
    await clickThrough(page, page.getByRole('button', { name: 'Show open times' }));
    await page.getByRole('radio').first().check();
    await page.getByLabel('What is the visit for?').fill('Cough for three days');
    await clickThrough(page, page.getByRole('button', { name: 'Book this time' }));
    assert.match(await page.locator('main').innerText(), /Cough for three days/);
    assert.match(await page.locator('.patient-banner').innerText(), /Conchita/);
    await checkPage(t, page, 'proxy-booked');

    await page.goto(portal.href(`/patients/${leoId}`));
    await clickThrough(page, page.getByRole('navigation', { name: 'Your family’s records' }).getByRole('link', { name: /Leo Martinez/ }));
    await page.goto(portal.href(`/patients/${leoId}/messages/new`));
    assert.match(await page.locator('.patient-banner').innerText(), /You are viewing Leo's record as his parent\./);
    await page.getByLabel('To', { exact: true }).selectOption({ label: 'Nurse line' });
    await page.getByLabel('What is it about?', { exact: true }).selectOption({ label: 'Medical question' });
    await page.getByLabel('Subject', { exact: true }).fill('Leo\'s ear hurts');
    await page.getByLabel('Message', { exact: true }).fill('Since last night, the left ear.');
    await clickThrough(page, page.getByRole('button', { name: 'Send message' }));
    const thread = await page.locator('main').innerText();
    assert.match(thread, /Leo's ear hurts/);
    assert.match(thread, /You .*\n+Since last night, the left ear\./);
    await checkPage(t, page, 'proxy-message');
  });

  test('the admin reads the age rules in force and the confidential categories', async (t) => {
    const admin = await person(browser);
    try {
      await signIn(admin.page, portal, portal.account('admin'));
      await admin.page.goto(portal.href('/admin/proxy-rules'));
      assert.equal(await heading(admin.page), 'Proxy rules');
      assert.equal(
        await admin.page.getByLabel('Jurisdiction these rules follow').inputValue(),
        'US common practice (confidential care from 12)',
      );
      assert.ok(await admin.page.getByLabel('Mental health').isChecked());
      await checkPage(t, admin.page, 'admin-proxy-rules');
    } finally {
      await admin.context.close();
    }
  });
});
