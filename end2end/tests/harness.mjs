// Test harness for the Riskline browser tests: a throw-away Riskline server, a fake SSF
// transmitter, Debian's Chromium driven by playwright-core, and a few small helpers.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, before } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const ADMIN_EMAIL = 'admin@example.com';
export const ADMIN_PASSWORD = 'Riskline-e2e-Admin-Passw0rd!';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const SCREENSHOT_DIR = path.resolve(HERE, '..', 'screenshots');

const CHROMIUM_PATH = process.env.RISKLINE_CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const READY_RE = /Riskline is ready at (http:\/\/127\.0\.0\.1:\d+)\/?/;
const READY_TIMEOUT_MS = 30_000;

export function launchBrowser() {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
}

/**
 * Starts the Riskline binary named by $RISKLINE_BIN on a free port with a fresh SQLite
 * database and a bootstrap super admin. Resolves once the server prints its ready line.
 */
export async function startRiskline(extraEnv = {}) {
  const bin = process.env.RISKLINE_BIN;
  if (!bin) throw new Error('RISKLINE_BIN must name the riskline server binary');
  const dataDir = mkdtempSync(path.join(tmpdir(), 'riskline-e2e-'));
  const env = {
    ...process.env,
    NO_COLOR: '1',
    RISKLINE_LISTEN: '127.0.0.1:0',
    RISKLINE_DATABASE_URL: `sqlite://${dataDir}/riskline.db`,
    RISKLINE_BOOTSTRAP_ADMIN_EMAIL: ADMIN_EMAIL,
    RISKLINE_BOOTSTRAP_ADMIN_PASSWORD: ADMIN_PASSWORD,
    RISKLINE_ALLOW_PRIVATE_URLS: 'true',
    ...extraEnv,
  };
  if (process.env.RISKLINE_SITE_ROOT) env.RISKLINE_SITE_ROOT = process.env.RISKLINE_SITE_ROOT;

  const child = spawn(bin, [], { cwd: dataDir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const output = [];
  const remember = (stream) => (line) => {
    output.push(`[riskline ${stream}] ${line}`);
    if (output.length > 2000) output.shift();
  };
  createInterface({ input: child.stderr }).on('line', remember('stderr'));
  const stdout = createInterface({ input: child.stdout });
  stdout.on('line', remember('stdout'));

  let exited = false;
  const exitPromise = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      exited = true;
      resolve({ code, signal });
    });
  });

  const logs = () => output.join('\n');
  const dumpLogs = () => process.stderr.write(`\n--- Riskline output ---\n${logs()}\n--- end ---\n`);

  const stop = async () => {
    if (!exited) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exitPromise;
      clearTimeout(timer);
    }
    rmSync(dataDir, { recursive: true, force: true });
  };

  let baseUrl;
  try {
    baseUrl = await new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`Riskline did not print its ready line within ${READY_TIMEOUT_MS} ms`)),
        READY_TIMEOUT_MS,
      );
      stdout.on('line', (line) => {
        const m = READY_RE.exec(line);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      exitPromise.then(({ code, signal }) => {
        clearTimeout(timer);
        reject(new Error(`Riskline exited before it was ready (code ${code}, signal ${signal})`));
      });
    });
  } catch (err) {
    dumpLogs();
    await stop();
    throw err;
  }

  return { baseUrl: baseUrl.replace(/\/+$/, ''), stop, logs, dumpLogs, dataDir };
}

/**
 * A minimal SSF transmitter: serves its configuration metadata and a JWKS with one RSA key.
 */
export async function startTransmitter() {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = randomUUID();
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid, use: 'sig', alg: 'RS256' };
  const requests = [];
  let origin = '';

  const server = http.createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    const send = (status, body) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const pathname = new URL(req.url, origin).pathname;
    if (req.method === 'GET' && pathname === '/.well-known/ssf-configuration') {
      send(200, {
        issuer: origin,
        jwks_uri: `${origin}/jwks.json`,
        delivery_methods_supported: ['urn:ietf:rfc:8935'],
        spec_version: '1_0',
      });
    } else if (req.method === 'GET' && pathname === '/jwks.json') {
      send(200, { keys: [jwk] });
    } else {
      send(404, { error: 'not_found' });
    }
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  origin = `http://127.0.0.1:${server.address().port}`;

  return {
    url: origin,
    wellKnownUrl: `${origin}/.well-known/ssf-configuration`,
    issuer: origin,
    jwksUrl: `${origin}/jwks.json`,
    privateKey,
    kid,
    requests,
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}

/**
 * A page in a fresh browser context. Pass { javaScriptEnabled: false } to test without wasm, or
 * { timezoneId: 'Asia/Kolkata' } to run the browser in another time zone.
 */
export async function newPage(browser, baseUrl, { javaScriptEnabled = true, timezoneId } = {}) {
  const context = await browser.newContext({
    baseURL: baseUrl,
    javaScriptEnabled,
    ...(timezoneId ? { timezoneId } : {}),
  });
  context.setDefaultTimeout(15_000);
  context.setDefaultNavigationTimeout(30_000);
  const page = await context.newPage();
  page.risklineJs = javaScriptEnabled;
  page.consoleErrors = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') page.consoleErrors.push(msg.text());
  });
  page.on('pageerror', (err) => page.consoleErrors.push(String(err)));
  return page;
}

/** Waits until the hydrate entry has marked <body data-hydrated="true">. No-op without JS. */
export async function waitForHydration(page, timeout = 30_000) {
  if (page.risklineJs === false) return;
  try {
    await page.waitForFunction(() => document.body?.getAttribute('data-hydrated') === 'true', null, {
      timeout,
    });
  } catch (err) {
    const errors = page.consoleErrors?.length ? `\nBrowser errors:\n${page.consoleErrors.join('\n')}` : '';
    throw new Error(`Page ${page.url()} did not hydrate: ${err.message}${errors}`);
  }
}

/** Navigates to a path (relative to the base URL) and waits for hydration. */
export async function goto(page, pathname) {
  await page.goto(pathname);
  await waitForHydration(page);
}

/** Waits for the page's h1 to be `name`, then for hydration. */
export async function expectHeading(page, name) {
  await page.getByRole('heading', { level: 1, name, exact: true }).waitFor();
  await waitForHydration(page);
}

export async function signIn(page, baseUrl, email, password) {
  await page.goto(`${baseUrl}/login`);
  await waitForHydration(page);
  await page.getByLabel('Email', { exact: true }).fill(email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.waitForURL((url) => !url.pathname.startsWith('/login'));
  await waitForHydration(page);
}

export function mainNav(page) {
  return page.getByRole('navigation', { name: 'Main' });
}

/** Clicks a link in the main navigation and waits for the page's h1. */
export async function navigate(page, linkName, heading = linkName) {
  await mainNav(page).getByRole('link', { name: linkName, exact: true }).click();
  await expectHeading(page, heading);
}

export async function screenshot(page, name) {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOT_DIR, `${name}.png`), fullPage: true });
}

/** Retries `fn` until it stops throwing or the timeout passes. */
export async function eventually(fn, { timeout = 10_000, interval = 200 } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, interval));
    }
  }
}

/** A SET (`claims`) signed RS256 with the transmitter's key. */
export function signSet(transmitter, claims) {
  const b64url = (data) => Buffer.from(data).toString('base64url');
  const header = { alg: 'RS256', kid: transmitter.kid, typ: 'secevent+jwt' };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  return `${input}.${b64url(sign('sha256', Buffer.from(input), transmitter.privateKey))}`;
}

/**
 * Runs `body` with a fresh Riskline and transmitter, stopping both afterwards. On failure the
 * server's output goes to stderr and the open pages are screenshotted as failure-<name>-<n>.png.
 * `env` adds environment variables for the server (e.g. RISKLINE_BOOTSTRAP_API_TOKEN).
 */
export async function withRiskline(browser, name, body, { env = {} } = {}) {
  const transmitter = await startTransmitter();
  let riskline;
  const pages = [];
  try {
    riskline = await startRiskline(env);
    const open = async (opts) => {
      const page = await newPage(browser, riskline.baseUrl, opts);
      pages.push(page);
      return page;
    };
    await body({ riskline, baseUrl: riskline.baseUrl, transmitter, newPage: open });
  } catch (err) {
    riskline?.dumpLogs();
    process.stderr.write(`Transmitter requests: ${JSON.stringify(transmitter.requests)}\n`);
    for (const [i, page] of pages.entries()) {
      if (page.isClosed()) continue;
      process.stderr.write(`Page ${i} was at ${page.url()}\n`);
      if (page.consoleErrors.length) process.stderr.write(`Browser errors:\n${page.consoleErrors.join('\n')}\n`);
      await screenshot(page, `failure-${name}-${i}`).catch(() => {});
    }
    throw err;
  } finally {
    for (const page of pages) await page.context().close().catch(() => {});
    await riskline?.stop();
    await transmitter.stop();
  }
}

/** One Chromium for a test file: launched before its tests, closed after them. */
export function useBrowser() {
  const shared = { browser: undefined };
  before(async () => {
    shared.browser = await launchBrowser();
  });
  after(async () => {
    await shared.browser?.close();
  });
  return shared;
}

/**
 * A REST client for one Riskline's API, authenticated with `token` (a test
 * sets it with RISKLINE_BOOTSTRAP_API_TOKEN): `api(baseUrl, method, path,
 * body)` answers the parsed JSON, or null for an empty body, and fails the
 * test on any status but 2xx.
 */
export function apiClient(token) {
  return async function api(baseUrl, method, path, body) {
    const res = await fetch(`${baseUrl}${path}`, {
      method,
      headers: { authorization: `SSWS ${token}`, 'content-type': 'application/json' },
      body: body && JSON.stringify(body),
    });
    const text = await res.text();
    assert.ok(res.ok, `${method} ${path}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : null;
  };
}
