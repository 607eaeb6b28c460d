// Page benchmark sign-in: signs in to a running `portal demo` as one of its accounts the way a
// browser does (cookies, the hidden CSRF field, same-origin headers, the authenticator code) and
// prints, as one JSON object, what a load generator needs to load that account's pages: the
// session's Cookie header, the name the pages must show, and the pages to load (home, health
// summary, test results, one result with its trend, access log). Used by scripts/bench-pages,
// which loads the pages with wrk; by hand:
//
//   node e2e/bench/pages.mjs DATA_DIR/demo-accounts.json [--role patient|clinician]
//        [--patient NAME]
//
//   --role     the demo account to sign in as (default patient: the demo patient, on her own
//              record)
//   --patient  with --role clinician, the record to load: a family name ("Lesch175") or a full
//              name from the demo's `patients` list (default: the first on the list)
//   --sign-in-only  print only the session's Cookie header (as {"cookie": …}), loading no page
//
// Exit status 1 if sign-in failed or a page did not answer 200 with the patient's name.

import { readFileSync } from 'node:fs';
import { totp } from '../lib/totp.mjs';

const USAGE =
  'usage: node e2e/bench/pages.mjs DEMO_ACCOUNTS_JSON [--role patient|clinician] [--patient NAME] [--sign-in-only]';

function fail(message) {
  console.error(`bench-pages: ${message}`);
  process.exit(1);
}

function parseArgs(argv) {
  const args = { file: null, patient: null, role: 'patient', signInOnly: false };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (arg === '--patient' || arg === '--role') {
      if (i + 1 >= argv.length) fail(`${arg} needs a value\n${USAGE}`);
      args[arg.slice(2)] = argv[(i += 1)];
    } else if (arg === '--sign-in-only') {
      args.signInOnly = true;
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
  if (!['patient', 'clinician'].includes(args.role)) fail(`--role must be patient or clinician\n${USAGE}`);
  return args;
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

async function main() {
  const args = parseArgs(process.argv.slice(2));
  let demo;
  try {
    demo = JSON.parse(readFileSync(args.file, 'utf8'));
  } catch (error) {
    fail(`cannot read ${args.file}: ${error.message}`);
  }
  const account = (demo.accounts ?? []).find((a) => a.role === args.role);
  if (!account) fail(`${args.file} has no ${args.role} account`);
  const records = demo.patients ?? [];
  let record;
  if (args.role === 'patient') {
    record = records.find(([name]) => name === account.name);
  } else if (args.patient) {
    const wanted = args.patient.trim().toLowerCase();
    record =
      records.find(([name]) => name.toLowerCase() === wanted) ??
      records.find(([name]) => name.toLowerCase().split(/\s+/).at(-1) === wanted);
  } else {
    record = records[0];
  }
  if (!record) {
    fail(`no demo record for ${JSON.stringify(args.patient ?? account.name)} in ${args.file} ` +
      `(records: ${records.map(([n]) => n).join(', ')})`);
  }
  const [name, id] = record;
  const browser = new Browser(new URL(demo.url));
  try {
    await browser.signIn(account);
  } catch (error) {
    fail(`sign-in as ${account.email} failed: ${error.message}`);
  }
  if (args.signInOnly) {
    console.log(JSON.stringify({ account: account.email, cookie: browser.jar.header() }));
    return;
  }
  const names = htmlForms(name);
  const open = async (path) => {
    const page = await browser.request('GET', path);
    if (page.status !== 200) fail(`GET ${path} answered ${page.status}`);
    if (!names.some((n) => page.text.includes(n))) fail(`GET ${path} does not show ${name}`);
    return page.text;
  };
  const home = `/patients/${id}`;
  const results = await open(`${home}/results`);
  // A result of a test measured more than once: the Trends section links to each one's chart.
  const trend = new RegExp(`href="(${home}/results/[^"#]+)#trend"`).exec(results);
  if (!trend) fail(`the results of ${name} list no test measured more than once`);
  const pages = [
    ['home', home],
    ['summary', `${home}/record`],
    ['results', `${home}/results`],
    ['result', trend[1]],
    ['access log', `${home}/access-log`],
  ];
  for (const [, path] of pages) await open(path);
  console.log(JSON.stringify({
    account: account.email,
    record: name,
    // The text every page must show: the name as the banner writes it.
    shows: names.find((n) => results.includes(n)),
    cookie: browser.jar.header(),
    pages,
  }));
}

await main();
