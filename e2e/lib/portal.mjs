// Starts the real portal binary with `portal demo` on a free port and a throwaway data folder,
// like the Rust black-box tests' spawn_app(), and stops it again.

import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/** The e2e/ folder. */
export const E2E_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** The repository root (the folder holding Cargo.toml and target/). */
export const REPO_DIR = resolve(E2E_DIR, '..');

const START_DEADLINE_MS = 60_000;
const STOP_DEADLINE_MS = 10_000;
const KEPT_LOG_CHARS = 20_000;

/** The portal binary: $PORTAL_BIN, else the release build, else the debug build. */
export function portalBinary() {
  if (process.env.PORTAL_BIN) {
    const bin = resolve(E2E_DIR, process.env.PORTAL_BIN);
    if (!existsSync(bin)) {
      throw new Error(`PORTAL_BIN is ${bin}, which does not exist`);
    }
    return bin;
  }
  const candidates = ['release', 'debug'].map((profile) => join(REPO_DIR, 'target', profile, 'portal'));
  const found = candidates.find((path) => existsSync(path));
  if (!found) {
    throw new Error(
      `no portal binary at ${candidates.join(' or ')}: run \`cargo build --release -p portal\` ` +
        'in the repository first, or set PORTAL_BIN',
    );
  }
  return found;
}

/** The child's environment: ours without PORTAL_* settings, so the demo is the same everywhere. */
function demoEnvironment() {
  const env = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith('PORTAL_')) {
      env[name] = value;
    }
  }
  env.PORTAL_LOG = process.env.PORTAL_LOG ?? 'warn';
  return env;
}

/** Keeps the tail of a stream's text, for error messages. */
function tail(text, more) {
  const joined = text + more;
  return joined.length > KEPT_LOG_CHARS ? joined.slice(-KEPT_LOG_CHARS) : joined;
}

/**
 * A running demo portal: `url`, the parsed `demo-accounts.json` as `demo`, its `dataDir`, and
 * helpers to find demo accounts and patient ids.
 */
export class Portal {
  constructor(child, dataDir, url, demo, logs) {
    this.child = child;
    this.dataDir = dataDir;
    this.url = url;
    this.demo = demo;
    this.logs = logs;
  }

  /** The demo account of `role` ("patient", "clinician", "staff" or "admin"). */
  account(role) {
    const account = this.demo.accounts.find((a) => a.role === role);
    if (!account) {
      throw new Error(`the demo has no ${role} account: ${JSON.stringify(this.demo.accounts.map((a) => a.role))}`);
    }
    return account;
  }

  /** The record id of the demo patient called `name` ("Marcus Chen"). */
  patientId(name) {
    const entry = this.demo.patients.find(([patientName]) => patientName === name);
    if (!entry) {
      throw new Error(`the demo has no patient ${name}: ${JSON.stringify(this.demo.patients)}`);
    }
    return entry[1];
  }

  /** An absolute URL for a path on this portal. */
  href(path) {
    return new URL(path, this.url).toString();
  }

  /**
   * The newest e-mail the demo wrote to its mail folder whose text matches `pattern`, waiting
   * for it until `deadlineMs` has passed (the outbox is drained in the background).
   */
  async waitForMail(pattern, deadlineMs = 15_000) {
    const folder = join(this.dataDir, 'mail');
    const until = Date.now() + deadlineMs;
    for (;;) {
      const names = existsSync(folder) ? await readdir(folder) : [];
      for (const name of names.filter((n) => n.endsWith('.eml'))) {
        // Undo quoted-printable soft line breaks so a long link reads as one piece.
        const text = (await readFile(join(folder, name), 'utf8')).replace(/=\r?\n/g, '');
        if (pattern.test(text)) {
          return text;
        }
      }
      if (Date.now() > until) {
        throw new Error(`no e-mail matching ${pattern} in ${folder} within ${deadlineMs} ms`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /**
   * A new API token of a system client (an EHR or lab sending records), made the way an operator
   * does: `portal token create` on this demo's database. `scope` is `system/*.write`,
   * `system/*.read` or both. Resolves with the token.
   */
  async createApiToken(name, scope) {
    const { stdout } = await promisify(execFile)(
      portalBinary(),
      ['--data-dir', this.dataDir, '--database', `sqlite://${join(this.dataDir, 'demo.db')}`, 'token', 'create', '--name', name, '--scope', scope],
      { env: demoEnvironment() },
    );
    return stdout.trim();
  }

  /**
   * Registers an app patients may connect (SMART on FHIR) the way an operator does:
   * `portal app register` on this demo's database. Resolves with its client id.
   */
  async registerApp(name, redirectUri) {
    const { stdout } = await promisify(execFile)(
      portalBinary(),
      ['--data-dir', this.dataDir, '--database', `sqlite://${join(this.dataDir, 'demo.db')}`, 'app', 'register', '--name', name, '--redirect-uri', redirectUri],
      { env: demoEnvironment() },
    );
    const found = /^client_id (\S+)$/m.exec(stdout);
    if (!found) {
      throw new Error(`portal app register printed no client id: ${stdout}`);
    }
    return found[1];
  }

  /**
   * Sends a FHIR transaction Bundle to POST /fhir with `token`, as an EHR does, and resolves with
   * the answering Bundle; a refusal throws with the OperationOutcome.
   */
  async sendFhir(token, bundle) {
    const response = await fetch(this.href('/fhir'), {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json' },
      body: JSON.stringify(bundle),
    });
    const text = await response.text();
    if (!response.ok) {
      throw new Error(`POST /fhir answered ${response.status}: ${text}`);
    }
    return JSON.parse(text);
  }

  /** Stops the portal (SIGTERM, then SIGKILL after a deadline) and removes its data folder. */
  async stop() {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((r) => this.child.once('exit', r));
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), STOP_DEADLINE_MS);
      await exited;
      clearTimeout(timer);
    }
    await rm(this.dataDir, { recursive: true, force: true });
  }
}

/** Starts a fresh `portal demo` on 127.0.0.1 and a free port; resolves once it serves. */
export async function startPortal() {
  const bin = portalBinary();
  const dataDir = await mkdtemp(join(tmpdir(), 'portal-e2e-'));
  const child = spawn(bin, ['--data-dir', dataDir, '--metrics-listen', 'off', 'demo', '--listen', '127.0.0.1:0'], {
    env: demoEnvironment(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs = { stdout: '', stderr: '' };
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => {
    logs.stderr = tail(logs.stderr, chunk);
  });

  let url;
  try {
    url = await new Promise((resolveUrl, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`the portal did not say it was running within ${START_DEADLINE_MS} ms`)),
        START_DEADLINE_MS,
      );
      child.stdout.on('data', (chunk) => {
        logs.stdout = tail(logs.stdout, chunk);
        const match = /Patient Portal demo is running at (http:\/\/\S+)/.exec(logs.stdout);
        if (match) {
          clearTimeout(timer);
          resolveUrl(match[1]);
        }
      });
      child.once('error', (error) => {
        clearTimeout(timer);
        reject(new Error(`cannot start ${bin}: ${error.message}`));
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`the portal exited (code ${code}, signal ${signal}) before it was running`));
      });
    });
  } catch (error) {
    child.kill('SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
    error.message += `\n--- portal stdout ---\n${logs.stdout}\n--- portal stderr ---\n${logs.stderr}`;
    throw error;
  }

  const demo = JSON.parse(await readFile(join(dataDir, 'demo-accounts.json'), 'utf8'));
  return new Portal(child, dataDir, url, demo, logs);
}
