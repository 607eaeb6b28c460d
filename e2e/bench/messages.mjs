// Messaging load: CLIENTS concurrent clients on loopback for SECONDS against a running
// `portal demo`, three in four on the patient's side (each starts conversations and replies in
// its own, sometimes sending the same form twice, as a double click does) and one in four on
// the clinic's (each opens the in-basket, opens a waiting conversation and answers it). Every
// message body is unique ("bench RUN cN mM"), so the database can be counted against what
// the clients were told was sent. Used by scripts/bench-messages; by hand:
//
//   node e2e/bench/messages.mjs DEMO_URL PATIENT_SESSION_JSON CLINICIAN_SESSION_JSON
//        RECORD_ID CLIENTS SECONDS RUN
//
// The session JSONs are e2e/bench/pages.mjs's output. Prints one JSON object: the messages the
// portal said it stored (by side), the forms sent twice, reads, failed requests and latencies.

const [url, patientJson, clinicianJson, record, clientsArg, secondsArg, run] = process.argv.slice(2);
if (!run) {
  console.error('usage: node e2e/bench/messages.mjs URL PATIENT_JSON CLINICIAN_JSON RECORD CLIENTS SECONDS RUN');
  process.exit(2);
}
const clients = Number(clientsArg);
const seconds = Number(secondsArg);
const sessions = { patient: JSON.parse(patientJson), clinic: JSON.parse(clinicianJson) };

const stats = {
  told: { patient: 0, clinic: 0 },
  twice: 0,
  reads: 0,
  failed: 0,
  failures: {},
  latencies: [],
};

function fail(what) {
  stats.failed += 1;
  stats.failures[what] = (stats.failures[what] ?? 0) + 1;
}

async function request(side, method, path, form) {
  const headers = { cookie: sessions[side].cookie, 'sec-fetch-site': 'same-origin' };
  let body;
  if (form) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = new URLSearchParams(form).toString();
  }
  const started = performance.now();
  const r = await fetch(url + path, { method, headers, body, redirect: 'manual' });
  const text = await r.text();
  stats.latencies.push(performance.now() - started);
  return { status: r.status, location: r.headers.get('location') ?? '', text };
}

function csrfOf(html) {
  const m = /name="csrf" value="([^"]+)"/.exec(html);
  return m ? m[1] : null;
}

function sendKey() {
  return [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, '0')).join('');
}

const deadline = Date.now() + seconds * 1000;

async function patientClient(n, csrf, recipient) {
  const mine = [];
  let m = 0;
  while (Date.now() < deadline) {
    m += 1;
    const body = `bench ${run} c${n} m${m}`;
    const key = sendKey();
    let path;
    let form;
    if (mine.length === 0 || m % 3 === 0) {
      path = `/patients/${record}/messages`;
      form = { csrf, send_key: key, recipient, topic: 'medical', subject: `Bench ${n}.${m}`, body, intent: 'send' };
    } else {
      path = `${mine[m % mine.length]}/reply`;
      form = { csrf, send_key: key, body, intent: 'send' };
    }
    try {
      const r = await request('patient', 'POST', path, form);
      if (r.status !== 303) {
        fail(`patient POST answered ${r.status}`);
        continue;
      }
      stats.told.patient += 1;
      if (path.endsWith('/messages')) mine.push(r.location);
      // One form in ten is sent again, as a double click does: it must not store twice.
      if (m % 10 === 0) {
        const again = await request('patient', 'POST', path, form);
        if (again.status !== 303 || again.location !== r.location) fail(`a repeated form answered ${again.status}`);
        stats.twice += 1;
      }
      const page = await request('patient', 'GET', r.location);
      if (page.status === 200 && page.text.includes(body)) stats.reads += 1;
      else fail(`the patient's conversation page answered ${page.status} or lacked the message`);
    } catch (error) {
      fail(`patient request failed: ${error.message}`);
    }
  }
}

async function clinicClient(n, csrf) {
  let m = 0;
  while (Date.now() < deadline) {
    try {
      const basket = await request('clinic', 'GET', '/inbasket');
      if (basket.status !== 200) {
        fail(`the in-basket answered ${basket.status}`);
        continue;
      }
      stats.reads += 1;
      const links = [...basket.text.matchAll(/href="(\/patients\/[0-9a-f-]+\/messages\/[0-9a-f-]+)"/g)].map((x) => x[1]);
      if (links.length === 0) continue;
      const thread = links[Math.floor(Math.random() * Math.min(links.length, 20))];
      const page = await request('clinic', 'GET', thread);
      if (page.status !== 200) {
        fail(`the clinic's conversation page answered ${page.status}`);
        continue;
      }
      stats.reads += 1;
      m += 1;
      const body = `bench ${run} k${n} m${m}`;
      const r = await request('clinic', 'POST', `${thread}/reply`, { csrf, send_key: sendKey(), body, intent: 'send' });
      if (r.status === 303) stats.told.clinic += 1;
      else fail(`clinic reply answered ${r.status}`);
    } catch (error) {
      fail(`clinic request failed: ${error.message}`);
    }
  }
}

async function main() {
  const compose = await request('patient', 'GET', `/patients/${record}/messages/new`);
  const patientCsrf = csrfOf(compose.text);
  const recipient = /<option value="(pool:[0-9a-f-]+)">Nurse line<\/option>/.exec(compose.text)?.[1];
  const basket = await request('clinic', 'GET', '/inbasket');
  const clinicCsrf = csrfOf(basket.text);
  if (!patientCsrf || !clinicCsrf || !recipient) {
    console.error('bench-messages: could not read the forms (signed in? the nurse line offered?)');
    process.exit(1);
  }
  stats.latencies = [];
  const started = Date.now();
  const workers = [];
  for (let n = 0; n < clients; n += 1) {
    workers.push(n % 4 === 3 ? clinicClient(n, clinicCsrf) : patientClient(n, patientCsrf, recipient));
  }
  await Promise.all(workers);
  const elapsed = (Date.now() - started) / 1000;
  const sorted = stats.latencies.sort((a, b) => a - b);
  const pct = (p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))].toFixed(1) : '0');
  console.log(JSON.stringify({
    clients,
    seconds: elapsed,
    told: stats.told,
    sent: stats.told.patient + stats.told.clinic,
    twice: stats.twice,
    reads: stats.reads,
    requests: sorted.length,
    failed: stats.failed,
    failures: stats.failures,
    p50_ms: pct(0.5),
    p99_ms: pct(0.99),
  }));
}

await main();
