// Page benchmark client: signs in to a running `portal demo` as the demo clinician, the way a
// browser does (cookies, the hidden CSRF field, same-origin headers, the authenticator code), then
// loads one patient's home, health summary and test results pages in a closed loop and prints
// requests per second and latency percentiles for each page, and with --ceiling each as a share
// of a bare handler's one-row read measured in the same run. Run by scripts/bench-pages; by hand:
//
//   node e2e/bench/pages.mjs DATA_DIR/demo-accounts.json --patient FAMILY_NAME [--label TEXT]
//        [--ceiling URL]
//
//   --patient    the record to load: a family name ("Lesch175") or a full name from the demo's
//                `patients` list (default: the first record on the list)
//   --label      a word printed with the results (e.g. the database)
//   --ceiling    a bare handler on the same database (`portal bench-ceiling`), measured first
//                in the same run; each page is then printed as a share of it
//   PORTAL_BENCH_SECONDS      measured seconds per page (default 15)
//   PORTAL_BENCH_CONCURRENCY  concurrent clients, each on its own kept-alive connection (default 8)
//   PORTAL_BENCH_WARMUP       warm-up seconds per page, not counted (default 2)
//
// Exit status 1 if sign-in failed or any measured request failed (not 200, or the page did not
// show the patient's name): the figures of such a run are not the portal's.

import http from 'node:http';
import os from 'node:os';
import { readFileSync } from 'node:fs';
import { totp } from '../lib/totp.mjs';

const USAGE =
  'usage: node e2e/bench/pages.mjs DEMO_ACCOUNTS_JSON [--patient NAME] [--label TEXT] [--ceiling URL]';

function fail(message) {
  console.error(`bench-pages: ${message}`);
  process.exit(1);
}

function parseArgs(argv) {
  const args = { file: null, patient: null, label: '', ceiling: null };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (arg === '--patient' || arg === '--label' || arg === '--ceiling') {
      if (i + 1 >= argv.length) fail(`${arg} needs a value\n${USAGE}`);
      args[arg.slice(2)] = argv[(i += 1)];
    } else if (arg === '-h' || arg === '--help') {
      console.log(USAGE);
      process.exit(0);
    } else if (arg.startsWith('-') || args.file) {
      fail(`unexpected argument ${JSON.stringify(arg)}\n${USAGE}`);
    } else {
      args.file = arg;
    }
  }
  if (!args.file) fail(USAGE);
  return args;
}

function positiveNumber(name, fallback) {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) fail(`${name} must be a positive number, not ${text}`);
  return value;
}

// ---------------------------------------------------------------------------------------------
// A browser's cookie jar, reduced to what one origin over plain HTTP needs.

class CookieJar {
  constructor() {
    this.cookies = new Map();
  }

  /** Stores the Set-Cookie headers of a response (a Max-Age of 0 or a past Expires removes). */
  store(setCookies) {
    for (const line of setCookies) {
      const [pair, ...attributes] = line.split(';');
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      let expired = false;
      for (const attribute of attributes) {
        const [key, ...rest] = attribute.split('=');
        const k = key.trim().toLowerCase();
        const v = rest.join('=').trim();
        if (k === 'max-age' && Number(v) <= 0) expired = true;
        if (k === 'expires' && Date.parse(v) <= Date.now()) expired = true;
      }
      if (expired) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  header() {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

// ---------------------------------------------------------------------------------------------
// Sign-in, with fetch, as a browser does it.

const USER_AGENT = `portal-bench-pages (Node.js ${process.version})`;

function decodeAttribute(text) {
  return text
    .replace(/&#x([0-9a-f]+);/gi, (_, h) => String.fromCodePoint(parseInt(h, 16)))
    .replace(/&#([0-9]+);/g, (_, d) => String.fromCodePoint(Number(d)))
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

/** The value of the form's hidden `csrf` field. */
function csrfField(html, path) {
  const match = /<input[^>]*\bname="csrf"[^>]*\bvalue="([^"]*)"/.exec(html)
    ?? /<input[^>]*\bvalue="([^"]*)"[^>]*\bname="csrf"/.exec(html);
  if (!match) throw new Error(`no CSRF field in the form on ${path}`);
  return decodeAttribute(match[1]);
}

/** The text of the page's error summary, to say why a form was refused. */
function errorText(html) {
  const summary = /<div[^>]*class="error-summary"[\s\S]*?<\/div>/.exec(html);
  const text = (summary ? summary[0] : html.slice(0, 400)).replace(/<[^>]+>/g, ' ');
  return text.replace(/\s+/g, ' ').trim();
}

class Browser {
  constructor(base) {
    this.base = new URL(base);
    this.jar = new CookieJar();
  }

  async request(method, path, { form, navigation = 'same-origin' } = {}) {
    const headers = {
      'user-agent': USER_AGENT,
      accept: 'text/html,application/xhtml+xml',
      'sec-fetch-site': navigation,
      'sec-fetch-mode': 'navigate',
      'sec-fetch-dest': 'document',
    };
    const cookie = this.jar.header();
    if (cookie) headers.cookie = cookie;
    let body;
    if (form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      headers.origin = this.base.origin;
      body = new URLSearchParams(form).toString();
    }
    const response = await fetch(new URL(path, this.base), {
      method,
      headers,
      body,
      redirect: 'manual',
    });
    this.jar.store(response.headers.getSetCookie());
    const text = await response.text();
    return { status: response.status, location: response.headers.get('location'), text };
  }

  /** Opens the page with the form, fills it in and sends it, as submitting it in a browser does. */
  async submit(formPath, action, fields) {
    const page = await this.request('GET', formPath);
    if (page.status !== 200) {
      throw new Error(`GET ${formPath} answered ${page.status}: ${errorText(page.text)}`);
    }
    return this.request('POST', action, { form: { csrf: csrfField(page.text, formPath), ...fields } });
  }

  /** Signs `account` in through both steps; resolves with the page the portal lands on. */
  async signIn(account) {
    // Typing the address: no cookies yet, a "none" navigation.
    const first = await this.request('GET', '/signin', { navigation: 'none' });
    if (first.status !== 200) throw new Error(`GET /signin answered ${first.status}`);
    const password = await this.request('POST', '/signin', {
      form: { csrf: csrfField(first.text, '/signin'), email: account.email, password: account.password },
    });
    if (password.status !== 303 || password.location !== '/signin/second-factor') {
      throw new Error(
        `the password step of ${account.email} answered ${password.status} ` +
          `${password.location ?? ''}: ${errorText(password.text)}`,
      );
    }
    if (!account.totp_secret) throw new Error(`${account.email} has no authenticator secret`);
    let code = await this.submit('/signin/second-factor', '/signin/second-factor', {
      code: totp(account.totp_secret),
    });
    if (code.status === 422) {
      // Each code is accepted once (the account signed in during this 30-second step already):
      // do what the page says, and use the app's next code.
      await new Promise((resolve) => setTimeout(resolve, 30_000 - (Date.now() % 30_000) + 500));
      code = await this.submit('/signin/second-factor', '/signin/second-factor', {
        code: totp(account.totp_secret),
      });
    }
    if (code.status !== 303) {
      throw new Error(
        `the authenticator code of ${account.email} was refused (${code.status}): ${errorText(code.text)}`,
      );
    }
    // The browser follows the redirects to the signed-in home page.
    let at = code.location;
    for (let hops = 0; hops < 5; hops += 1) {
      const landing = await this.request('GET', at);
      if (landing.status === 200) return at;
      if (![301, 302, 303, 307, 308].includes(landing.status) || !landing.location) {
        throw new Error(`after sign-in, GET ${at} answered ${landing.status}`);
      }
      if (new URL(landing.location, this.base).pathname.startsWith('/signin')) {
        throw new Error(`after sign-in, GET ${at} sent the browser back to ${landing.location}`);
      }
      at = landing.location;
    }
    throw new Error('after sign-in, too many redirects');
  }
}

// ---------------------------------------------------------------------------------------------
// The load: a closed loop of `concurrency` clients, each waiting for its answer before asking
// again, over plain node:http with kept-alive connections (less client CPU than fetch, which
// matters because the client runs on the server's machine).

/** The ways a template may write `name` into HTML (escaped or not). */
function htmlForms(name) {
  const forms = new Set([name]);
  const styles = [
    { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#x27;' },
    { '&': '&#38;', '<': '&#60;', '>': '&#62;', '"': '&#34;', "'": '&#39;' },
    { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&#34;', "'": '&#39;' },
  ];
  for (const style of styles) forms.add(name.replace(/[&<>"']/g, (c) => style[c]));
  return [...forms];
}

function fetchPage(agent, base, path, headers) {
  return new Promise((resolve) => {
    const request = http.get(
      { host: base.hostname, port: base.port, path, agent, headers },
      (response) => {
        const chunks = [];
        response.on('data', (chunk) => chunks.push(chunk));
        response.on('end', () =>
          resolve({ status: response.statusCode, body: Buffer.concat(chunks), error: null }),
        );
        response.on('error', (error) => resolve({ status: 0, body: null, error }));
      },
    );
    request.on('error', (error) => resolve({ status: 0, body: null, error }));
  });
}

async function runLoop({ base, path, headers, names, concurrency, seconds }) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const latencies = [];
  const failures = [];
  let errors = 0;
  let bytes = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(Math.round(seconds * 1e9));
  const worker = async () => {
    while (process.hrtime.bigint() < deadline) {
      const t0 = process.hrtime.bigint();
      const { status, body, error } = await fetchPage(agent, base, path, headers);
      const micros = Number(process.hrtime.bigint() - t0) / 1000;
      let problem = null;
      if (error) problem = `connection error: ${error.message}`;
      else if (status !== 200) problem = `status ${status}: ${body.toString('utf8', 0, 300).replace(/\s+/g, ' ')}`;
      else if (names) {
        const html = body.toString('utf8');
        if (!names.some((n) => html.includes(n))) problem = 'status 200 but the page does not show the patient\'s name';
      }
      latencies.push(micros);
      if (body) bytes += body.length;
      if (problem) {
        errors += 1;
        if (failures.length < 5) failures.push(problem);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  agent.destroy();
  return { latencies, errors, failures, bytes, elapsed };
}

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const rank = Math.max(1, Math.ceil(p * sorted.length));
  return sorted[rank - 1];
}

const ms = (micros) => (micros / 1000).toFixed(1).padStart(7);

// ---------------------------------------------------------------------------------------------

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const seconds = positiveNumber('PORTAL_BENCH_SECONDS', 15);
  const concurrency = Math.round(positiveNumber('PORTAL_BENCH_CONCURRENCY', 8));
  const warmup = positiveNumber('PORTAL_BENCH_WARMUP', 2);

  let demo;
  try {
    demo = JSON.parse(readFileSync(args.file, 'utf8'));
  } catch (error) {
    fail(`cannot read ${args.file}: ${error.message}`);
  }
  const clinician = (demo.accounts ?? []).find((a) => a.role === 'clinician');
  if (!clinician) fail(`${args.file} has no clinician account`);
  const records = demo.patients ?? [];
  let record = records[0];
  if (args.patient) {
    const wanted = args.patient.trim().toLowerCase();
    record =
      records.find(([name]) => name.toLowerCase() === wanted) ??
      records.find(([name]) => name.toLowerCase().split(/\s+/).at(-1) === wanted);
  }
  if (!record) {
    fail(`no demo record named ${JSON.stringify(args.patient)} in ${args.file} ` +
      `(records: ${records.map(([n]) => n).join(', ')})`);
  }
  const [name, id] = record;
  const base = new URL(demo.url);

  const browser = new Browser(base);
  try {
    await browser.signIn(clinician);
  } catch (error) {
    fail(`sign-in as ${clinician.email} failed: ${error.message}`);
  }
  const headers = {
    'user-agent': USER_AGENT,
    accept: 'text/html,application/xhtml+xml',
    'sec-fetch-site': 'same-origin',
    'sec-fetch-mode': 'navigate',
    'sec-fetch-dest': 'document',
    cookie: browser.jar.header(),
  };

  const label = args.label ? `${args.label}: ` : '';
  console.log(
    `${label}${base.origin}, signed in as ${clinician.email}; record ${name} (${id}); ` +
      `${concurrency} concurrent clients, ${warmup} s warm-up + ${seconds} s per page`,
  );
  console.log(
    `  note: this client (Node.js ${process.version}) shares the machine's ${os.cpus().length} ` +
      'CPU core(s) with the portal and its database, so the figures are lower bounds ' +
      `(load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')})`,
  );

  const pages = [
    ['home', `/patients/${id}`],
    ['summary', `/patients/${id}/record`],
    ['results', `/patients/${id}/results`],
  ];
  const names = htmlForms(name);
  let failed = false;
  let ceilingRps = null;
  const runs = pages.map(([page, path]) => ({ page, path, base, headers, names }));
  if (args.ceiling) {
    runs.unshift({ page: 'ceiling', path: '/', base: new URL(args.ceiling), headers: {}, names: null });
  }
  for (const { page, path, base: origin, headers: sent, names: shown } of runs) {
    await runLoop({ base: origin, path, headers: sent, names: shown, concurrency, seconds: warmup });
    const cpu = process.cpuUsage();
    const run = await runLoop({ base: origin, path, headers: sent, names: shown, concurrency, seconds });
    const used = process.cpuUsage(cpu);
    const clientCpu = ((used.user + used.system) / 1e6 / run.elapsed) * 100;
    const sorted = Float64Array.from(run.latencies).sort();
    const n = sorted.length;
    const rps = n / run.elapsed;
    const kb = n ? run.bytes / n / 1024 : 0;
    if (page === 'ceiling') ceilingRps = rps;
    const share = ceilingRps ? ` (${((rps / ceilingRps) * 100).toFixed(1).padStart(5)}% of the ceiling)` : '';
    console.log(
      `  ${page.padEnd(8)} ${rps.toFixed(1).padStart(8)} req/s${share}   p50 ${ms(percentile(sorted, 0.5))} ms` +
        `   p99 ${ms(percentile(sorted, 0.99))} ms   max ${ms(sorted[n - 1] ?? NaN)} ms` +
        `   errors ${run.errors}   (${n} requests in ${run.elapsed.toFixed(1)} s, ${kb.toFixed(1)} KB/page, ` +
        `client CPU ${clientCpu.toFixed(0)}% of a core, GET ${path})`,
    );
    for (const f of run.failures) console.log(`      failed: ${f}`);
    if (run.errors > 0) failed = true;
  }
  if (failed) {
    console.error('bench-pages: some requests failed; these figures do not measure the portal');
    process.exit(1);
  }
}

await main();
