// Appointments in a real browser at a phone's width: the patient finds an open time for a video
// visit, books it with a reason, moves it, asks for an earlier time and takes the one the front
// desk frees, and cancels; the front desk reads
// the week's schedule and the administrator the schedules' set-up. Every page checked with axe
// at both widths and photographed.

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
// The front desk signs in once (an authenticator code is accepted once) and works in both parts.
let staff;

before(async () => {
  portal = await startPortal();
  browser = await launchBrowser();
  staff = await person(browser);
  await signIn(staff.page, portal, portal.account('staff'));
});

after(async () => {
  await staff?.context.close();
  await browser?.close();
  await portal?.stop();
});

describe('a patient books, moves, takes an earlier time and cancels on her phone', { timeout: TEST_TIMEOUT_MS }, () => {
  let patient;
  let sofiaId;
  let appointmentPath;

  before(async () => {
    sofiaId = portal.patientId('Sofia Martinez');
    patient = await person(browser);
    await signIn(patient.page, portal, portal.account('patient'));
  });

  after(async () => {
    await patient?.context.close();
  });

  test('she finds open times for a video visit', async (t) => {
    const { page } = patient;
    await page.setViewportSize(PHONE);
    await page.goto(portal.href(`/patients/${sofiaId}`));
    const nav = page.getByRole('navigation', { name: 'Main' });
    await nav.getByText('More', { exact: true }).click();
    await clickThrough(page, nav.getByRole('link', { name: 'Appointments', exact: true }));
    assert.equal(await heading(page), 'Appointments');
    assert.match(await page.locator('main').innerText(), /No upcoming appointments/);
    await checkPage(t, page, 'patient-appointments-empty');
    await page.setViewportSize(PHONE);
    await clickThrough(page, page.getByRole('link', { name: 'Book an appointment' }));
    assert.equal(pathOf(page), `/patients/${sofiaId}/appointments/new`);
    // The clinic has seen her before: follow-ups and video visits, not a new-patient visit.
    const kinds = await page.getByLabel('Kind of visit').locator('option').allInnerTexts();
    assert.ok(kinds.some((k) => k.startsWith('Video visit')), kinds.join(', '));
    assert.ok(kinds.some((k) => k.startsWith('Follow-up')), kinds.join(', '));
    assert.ok(!kinds.some((k) => k.startsWith('New patient')), kinds.join(', '));
    await page.getByLabel('Kind of visit').selectOption({ label: 'Video visit (20 minutes, by video)' });
    await clickThrough(page, page.getByRole('button', { name: 'Show open times' }));
    assert.match(await page.locator('main').innerText(), /Open times for Video visit/);
    // Four weeks on: far from the cut-off for changes, and later than others may free.
    await clickThrough(page, page.getByRole('link', { name: 'Later dates' }));
    await clickThrough(page, page.getByRole('link', { name: 'Later dates' }));
    assert.ok((await page.getByRole('radio').count()) > 10, 'times are offered');
    await checkPage(t, page, 'appointment-find-times');
  });

  test('she books a time with a reason and gets a confirmation', async (t) => {
    const { page } = patient;
    await page.setViewportSize(PHONE);
    const first = page.locator('fieldset.times').first();
    const day = (await first.locator('legend').innerText()).trim();
    const time = page.locator('fieldset.times label').first();
    const bookedTime = (await time.innerText()).split('\n')[0].trim();
    await time.click();
    // Booking without a reason is refused, and the chosen time stays chosen.
    await clickThrough(page, page.getByRole('button', { name: 'Book this time' }));
    assert.match(await page.getByRole('alert').first().innerText(), /Say briefly what the visit is for/);
    assert.ok((await page.getByRole('radio', { checked: true }).count()) === 1, 'the time stays chosen');
    await page.getByLabel('What is the visit for?').fill('Rash on my arm for a week');
    await clickThrough(page, page.getByRole('button', { name: 'Book this time' }));
    appointmentPath = pathOf(page);
    assert.match(appointmentPath, new RegExp(`^/patients/${sofiaId}/appointments/[0-9a-f-]{36}$`));
    const main = await page.locator('main').innerText();
    assert.match(main, /Your appointment is booked/);
    assert.ok(main.includes(day.split(',').slice(0, 2).join(',')), `${day} in ${main}`);
    assert.ok(main.includes(bookedTime), `${bookedTime} in ${main}`);
    assert.match(main, /Rash on my arm for a week/);
    assert.match(main, /Add to my calendar/);
    await checkPage(t, page, 'appointment-booked');
  });

  test('she moves it to another time, keeping her reason', async (t) => {
    const { page } = patient;
    await page.setViewportSize(PHONE);
    await clickThrough(page, page.getByRole('link', { name: 'Move to another time' }));
    assert.equal(await heading(page), 'Move an appointment');
    await clickThrough(page, page.getByRole('link', { name: 'Later dates' }));
    await clickThrough(page, page.getByRole('link', { name: 'Later dates' }));
    await checkPage(t, page, 'appointment-move');
    await page.setViewportSize(PHONE);
    await page.locator('fieldset.times label:visible').nth(1).click();
    await clickThrough(page, page.getByRole('button', { name: 'Move to this time' }));
    const main = await page.locator('main').innerText();
    assert.match(main, /has moved to the new time/);
    assert.match(main, /Rash on my arm for a week/);
    assert.notEqual(pathOf(page), appointmentPath);
    appointmentPath = pathOf(page);
    await page.goto(portal.href(`/patients/${sofiaId}/appointments`));
    assert.match(await page.locator('main').innerText(), /Moved to another time/);
  });

  test('she asks for an earlier time, and takes one when the clinic cancels a visit', async (t) => {
    const { page } = patient;
    await page.setViewportSize(PHONE);
    await page.goto(portal.href(appointmentPath));
    await clickThrough(page, page.getByRole('button', { name: 'Offer me an earlier time' }));
    assert.match(await page.locator('main').innerText(), /You are on the list for earlier times/);
    // The front desk books her son a video visit two weeks out, then cancels it.
    const desk = staff.page;
    const leoId = portal.patientId('Leo Martinez');
    await desk.goto(portal.href(`/patients/${leoId}/appointments/new`));
    await desk.getByLabel('Kind of visit').selectOption({ label: 'Video visit (20 minutes, by video)' });
    await clickThrough(desk, desk.getByRole('button', { name: 'Show open times' }));
    await clickThrough(desk, desk.getByRole('link', { name: 'Later dates' }));
    await desk.locator('fieldset.times label').first().click();
    await desk.getByLabel('What is the visit for?').fill('Ear check');
    await clickThrough(desk, desk.getByRole('button', { name: 'Book this time' }));
    await clickThrough(desk, desk.getByRole('button', { name: 'Cancel this appointment' }));
    assert.match(await desk.locator('main').innerText(), /cancelled/);
    // She sees the offer and takes it.
    await page.goto(portal.href(`/patients/${sofiaId}/appointments`));
    const list = page.locator('main');
    assert.match(await list.innerText(), /Earlier times for you/);
    await clickThrough(page, list.getByRole('link').filter({ hasText: /20\d\d at/ }).first());
    assert.equal(await heading(page), 'An earlier time');
    await checkPage(t, page, 'appointment-offer');
    await page.setViewportSize(PHONE);
    await clickThrough(page, page.getByRole('button', { name: 'Move my appointment to this time' }));
    const main = await page.locator('main').innerText();
    assert.match(main, /has moved to the new time/);
    assert.match(main, /Rash on my arm for a week/);
    appointmentPath = pathOf(page);
  });

  test('she checks her son in for a visit this week', async (t) => {
    const { page } = patient;
    await page.setViewportSize(PHONE);
    const leoId = portal.patientId('Leo Martinez');
    await page.goto(portal.href(`/patients/${leoId}/appointments/new`));
    await page.getByLabel('Kind of visit').selectOption({ label: 'Video visit (20 minutes, by video)' });
    await clickThrough(page, page.getByRole('button', { name: 'Show open times' }));
    await page.locator('fieldset.times label').first().click();
    await page.getByLabel('What is the visit for?').fill('Sore throat');
    await clickThrough(page, page.getByRole('button', { name: 'Book this time' }));
    await clickThrough(page, page.getByRole('link', { name: 'Check in for this visit' }));
    assert.equal(await heading(page), 'Check in');
    await checkPage(t, page, 'appointment-check-in');
    await page.setViewportSize(PHONE);
    await page.getByLabel('Phone number', { exact: true }).fill('+1 (555) 010-2000');
    await page.getByLabel('Street address').fill('12 Elm Street');
    await page.getByLabel('City', { exact: true }).fill('Springfield');
    await page.getByLabel('State', { exact: true }).fill('IL');
    await page.getByLabel('ZIP code').fill('62701');
    // Forgot the insurance: the page says what is missing and keeps what was typed.
    await clickThrough(page, page.getByRole('button', { name: 'Check in' }));
    assert.match(await page.getByRole('alert').first().innerText(), /Enter your insurer/);
    assert.equal(await page.getByLabel('City', { exact: true }).inputValue(), 'Springfield');
    await page.getByLabel('Insurer or plan').fill('Acme Health');
    await page.getByLabel('Member id').fill('XZ-123');
    await page.getByLabel('What would you like to talk about?').fill('His throat hurts when he swallows');
    await clickThrough(page, page.getByRole('button', { name: 'Check in' }));
    const main = await page.locator('main').innerText();
    assert.match(main, /You are checked in/);
    assert.match(main, /Acme Health, member id XZ-123/);
    assert.match(main, /His throat hurts when he swallows/);
  });

  test('she cancels it', async (t) => {
    const { page } = patient;
    await page.setViewportSize(PHONE);
    await page.goto(portal.href(appointmentPath));
    await clickThrough(page, page.getByRole('button', { name: 'Cancel this appointment' }));
    const main = await page.locator('main').innerText();
    assert.match(main, /The appointment is cancelled/);
    assert.match(main, /Status\s+Cancelled/);
    await checkPage(t, page, 'appointment-cancelled');
    await page.goto(portal.href(`/patients/${sofiaId}/appointments`));
    assert.match(await page.locator('main').innerText(), /No upcoming appointments/);
  });
});

describe('the clinic reads its schedule and its set-up', { timeout: TEST_TIMEOUT_MS }, () => {
  test('the front desk books for a patient and sees the week', async (t) => {
    {
      const { page } = staff;
      const leoId = portal.patientId('Leo Martinez');
      await page.goto(portal.href(`/patients/${leoId}/appointments/new`));
      await page.getByLabel('Kind of visit').selectOption({ label: 'Follow-up visit (20 minutes)' });
      await clickThrough(page, page.getByRole('button', { name: 'Show open times' }));
      await page.locator('fieldset.times label').first().click();
      await page.getByLabel('What is the visit for?').fill('Check-up after the flu');
      await clickThrough(page, page.getByRole('button', { name: 'Book this time' }));
      assert.match(await page.locator('main').innerText(), /is booked/);
      await page.goto(portal.href('/schedule?span=week'));
      assert.equal(await heading(page), 'Schedule');
      // The first open time may fall in next week (after a weekend).
      if (!/Leo Martinez/.test(await page.locator('main').innerText())) {
        await clickThrough(page, page.getByRole('link', { name: 'Next week' }));
      }
      assert.match(await page.locator('main').innerText(), /Leo Martinez/);
      await checkPage(t, page, 'clinic-schedule-week');
    }
  });

  test('the administrator reads the schedules page', async (t) => {
    const admin = await person(browser);
    try {
      const { page } = admin;
      await signIn(page, portal, portal.account('admin'));
      await page.goto(portal.href('/admin/schedules'));
      assert.equal(await heading(page), 'Schedules');
      const main = await page.locator('main').innerText();
      assert.match(main, /Riverside Clinic/);
      assert.match(main, /Dr\. Jordan Lee/);
      await checkPage(t, page, 'admin-schedules');
    } finally {
      await admin.context.close();
    }
  });
});
