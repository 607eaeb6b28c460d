// Connecting an app of one's choice (SMART on FHIR, standalone launch) in a real browser: the app
// sends the parent to the portal, she signs in, chooses her son's record on the consent page and
// leaves out appointments; the app gets a code, exchanges it with PKCE and reads his record; the
// Account page lists the app and disconnects it, and its token stops working at once. Every page
// checked with axe at both widths and photographed.

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { clickThrough, launchBrowser } from '../lib/browser.mjs';
import { checkPage } from '../lib/page-checks.mjs';
import { heading, pathOf, person } from '../lib/pages.mjs';
import { startPortal } from '../lib/portal.mjs';
import { signIn } from '../lib/signin.mjs';

const TEST_TIMEOUT_MS = 120_000;
const REDIRECT = 'https://diary.example/callback';

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

describe('a parent connects an app to her son\'s record', { timeout: TEST_TIMEOUT_MS }, () => {
  let parent;
  let clientId;
  let leoId;
  let accessToken;
  const verifier = randomBytes(48).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');

  before(async () => {
    leoId = portal.patientId('Leo Martinez');
    clientId = await portal.registerApp('Health Diary', REDIRECT);
    parent = await person(browser);
    // The app's own page is elsewhere: answer it here so the browser can land on it.
    await parent.page.route('https://diary.example/**', (route) =>
      route.fulfill({ status: 200, contentType: 'text/html', body: '<!doctype html><title>Health Diary</title><p>Back in the app.</p>' }),
    );
  });

  after(async () => {
    await parent?.context.close();
  });

  test('the app sends her to sign in, then to the consent page', async (t) => {
    const { page } = parent;
    const query = new URLSearchParams({
      response_type: 'code',
      client_id: clientId,
      redirect_uri: REDIRECT,
      scope: 'launch/patient openid fhirUser patient/*.read',
      state: 'diary-state-1',
      aud: portal.href('/fhir'),
      code_challenge: challenge,
      code_challenge_method: 'S256',
    });
    await page.goto(portal.href(`/oauth/authorize?${query}`));
    assert.equal(pathOf(page), '/signin');
    const landed = await signIn(page, portal, portal.account('patient'));
    assert.equal(landed, '/oauth/consent');
    assert.equal(await heading(page), 'Connect Health Diary');
    const main = await page.locator('main').innerText();
    assert.match(main, /It can only read/);
    assert.match(main, /Whose record may it read/);
    assert.match(main, /Appointments/);
    await checkPage(t, page, 'consent');
  });

  test('she chooses her son, leaves out appointments and allows it', async () => {
    const { page } = parent;
    await page.getByLabel(/Leo/).check();
    await page.getByLabel('Appointments', { exact: true }).uncheck();
    await page.getByRole('button', { name: 'Allow', exact: true }).click();
    await page.waitForURL(/diary\.example/);
    const back = new URL(page.url());
    assert.equal(back.searchParams.get('state'), 'diary-state-1');
    const code = back.searchParams.get('code');
    assert.ok(code);
    const response = await fetch(portal.href('/oauth/token'), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code,
        redirect_uri: REDIRECT,
        code_verifier: verifier,
        client_id: clientId,
      }),
    });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('cache-control'), 'no-store');
    const tokens = await response.json();
    assert.equal(tokens.patient, leoId);
    assert.doesNotMatch(tokens.scope, /Appointment/);
    accessToken = tokens.access_token;
    const read = await fetch(portal.href(`/fhir/Patient/${leoId}`), {
      headers: { authorization: `Bearer ${accessToken}` },
    });
    assert.equal(read.status, 200);
    const appointments = await fetch(portal.href(`/fhir/Appointment?patient=${leoId}`), {
      headers: { authorization: `Bearer ${accessToken}` },
    });
    assert.equal(appointments.status, 403);
  });

  test('the Account page lists the app and disconnects it at once', async (t) => {
    const { page } = parent;
    await page.goto(portal.href('/account'));
    const section = await page.locator('section', { has: page.getByRole('heading', { name: 'Connected apps' }) }).innerText();
    assert.match(section, /Health Diary/);
    assert.match(section, /Reads: Leo Martinez/);
    assert.doesNotMatch(section, /Appointments/);
    await checkPage(t, page, 'account-connected-apps');
    await clickThrough(page, page.getByRole('button', { name: 'Disconnect Health Diary' }));
    assert.match(await page.locator('main').innerText(), /The app was disconnected/);
    const read = await fetch(portal.href(`/fhir/Patient/${leoId}`), {
      headers: { authorization: `Bearer ${accessToken}` },
    });
    assert.equal(read.status, 401);
  });
});
