// Browser test: the dashboard, Reports › Entity risk and Reports › At-risk users show the
// figures of a known history — SETs from two streams, an administrator's elevation, a rule
// that logs a person out (Riskline then resets them to Low) and a rule that runs a workflow —
// and the at-risk users download as CSV.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import { after, test } from 'node:test';
import {
  ADMIN_EMAIL,
  ADMIN_PASSWORD,
  eventually,
  expectHeading,
  goto,
  navigate,
  screenshot,
  signIn,
  signSet,
  startTransmitter,
  useBrowser,
  withRiskline,
} from './harness.mjs';

const TOKEN = '00reports-e2e-token-0123456789abcdef';
const USER_RISK = 'https://schemas.okta.com/secevent/okta/event-type/user-risk-change';
const POLICY = '00pentityrisk0000001';

const shared = useBrowser();

function apiClient(baseUrl) {
  return async (method, path, body) => {
    const res = await fetch(`${baseUrl}${path}`, {
      method,
      headers: { Authorization: `SSWS ${TOKEN}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : null;
  };
}

/** Posts a user-risk-change SET from `transmitter` about `email`; `aud` may be wrong on purpose. */
async function postRisk(baseUrl, transmitter, email, level, { aud = baseUrl, expect = 202 } = {}) {
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    iss: transmitter.issuer,
    aud,
    iat: now,
    jti: randomUUID(),
    events: {
      [USER_RISK]: {
        subject: { user: { format: 'email', email } },
        current_level: level,
        previous_level: 'low',
        event_timestamp: now,
        reason_admin: { en: `Reported ${level} by the test` },
      },
    },
  };
  const res = await fetch(`${baseUrl}/security/api/v1/security-events`, {
    method: 'POST',
    headers: { 'content-type': 'application/secevent+jwt' },
    body: signSet(transmitter, claims),
  });
  assert.equal(res.status, expect, await res.text());
}

/** The figure of the stat box labelled `label`. */
async function stat(page, label) {
  const box = page.getByRole('group', { name: label, exact: true });
  return (await box.locator('.value').textContent()).trim();
}

/** The rows of a table as arrays of cell texts (header row excluded). */
async function rows(table) {
  return table.locator('tbody tr').evaluateAll((trs) =>
    trs.map((tr) => [...tr.querySelectorAll("th, td")].map((c) => c.innerText.replace(/\s+/g, " ").trim())),
  );
}

test('dashboard, entity risk and at-risk users show the seeded figures; the CSV downloads', async () => {
  const beta = await startTransmitter();
  const gamma = await startTransmitter();
  try {
    await withRiskline(
      shared.browser,
      'reports',
      async ({ baseUrl, transmitter: acme, newPage }) => {
        const api = apiClient(baseUrl);
        // Three streams: Acme EDR and Beta MDM send, Gamma CASB stays silent.
        const provider = (name, t) =>
          api('POST', '/api/v1/security-events-providers', {
            name,
            type: 'okta',
            settings: { well_known_url: t.wellKnownUrl },
          });
        await provider('Acme EDR', acme);
        await provider('Beta MDM', beta);
        await provider('Gamma CASB', gamma);
        const person = (first, last) =>
          api('POST', '/api/v1/users', {
            profile: { email: `${first.toLowerCase()}@example.com`, firstName: first, lastName: last },
          });
        const ana = await person('Ana', 'Lee');
        await person('Bo', 'Chen');
        await person('Cy', 'Diaz');
        const di = await person('Di', 'Evans');
        const workflow = await api('POST', '/api/v1/workflows', {
          name: 'Open a ticket',
          url: `${acme.url}/hook`,
        });
        // A logout app that accepts every revocation: a logout with no app to call keeps the
        // user's risk, so Ana's logout needs one to bring her back to Low.
        const gtr = http.createServer((req, res) => {
          req.resume();
          req.on('end', () => res.writeHead(204).end());
        });
        await new Promise((resolve) => gtr.listen(0, '127.0.0.1', resolve));
        after(() => new Promise((resolve) => gtr.close(() => resolve())));
        await api('POST', '/api/v1/logout-apps', {
          name: 'CRM',
          endpointUrl: `http://127.0.0.1:${gtr.address().port}/gtr`,
          clientId: 'client-crm',
          auth: { type: 'signed_jwt' },
        });
        const rule = (name, level, action, users = []) =>
          api('POST', `/api/v1/policies/${POLICY}/rules`, {
            type: 'ENTITY_RISK',
            name,
            conditions: {
              entityRisk: { level },
              people: { users: { include: users, exclude: [] }, groups: { include: [], exclude: [] } },
            },
            actions: { entityRisk: { actions: [action] } },
          });
        // Ana at High is logged out (no logout apps: at once, then Riskline resets her to Low);
        // anyone at Medium runs the workflow; everything else falls to the Catch-all rule.
        await rule('High risk: log out', 'HIGH', { action: 'TERMINATE_ALL_SESSIONS' }, [ana.id]);
        await rule('Medium: workflow', 'MEDIUM', { action: 'RUN_WORKFLOW', workflow: { id: workflow.id } });

        await postRisk(baseUrl, acme, 'ana@example.com', 'high');
        // Ana's logout reaches the app and resets her before the next reports.
        await eventually(async () =>
          assert.equal((await api('GET', `/api/v1/users/${ana.id}/risk`)).riskLevel, 'LOW'),
        );
        await postRisk(baseUrl, acme, 'bo@example.com', 'high');
        await postRisk(baseUrl, beta, 'cy@example.com', 'medium');
        await postRisk(baseUrl, beta, 'di@example.com', 'low');
        await api('PUT', `/api/v1/users/${di.id}/risk`, { riskLevel: 'HIGH', riskReason: 'Stolen laptop' });
        // A refused SET (wrong audience) makes Beta MDM's latest event a failure.
        await postRisk(baseUrl, beta, 'di@example.com', 'high', { aud: 'https://elsewhere.example', expect: 400 });

        const page = await newPage();
        await signIn(page, baseUrl, ADMIN_EMAIL, ADMIN_PASSWORD);

        // ---- Dashboard ----
        await navigate(page, 'Dashboard');
        assert.equal(await stat(page, 'People at risk now'), '3');
        assert.equal(await stat(page, 'Detections (last 24 hours)'), '6');
        assert.equal(await stat(page, 'High-risk detections'), '3');
        assert.equal(await stat(page, 'Logouts triggered'), '1');
        const levels = page.locator('#dash-levels-chart desc');
        assert.equal(await levels.textContent(), 'High: 2; Medium: 1; Low: 1; None: 0.');
        assert.equal(
          await page.locator('#dash-sources-chart desc').textContent(),
          'Acme EDR: 2; Beta MDM: 2; Administrators: 1; Riskline: 1.',
        );
        assert.equal(
          await page.locator('#dash-rules-chart desc').textContent(),
          'Catch-all rule: 3; High risk: log out: 1; Medium: workflow: 1.',
        );
        const health = await rows(page.locator('table.streams-health'));
        assert.deepEqual(
          health.map(([name, state, , accepted, refused]) => [name, state, accepted, refused]),
          [
            ['Acme EDR', '● Healthy', '2', '0'],
            ['Beta MDM', '✕ Failing', '2', '1'],
            ['Gamma CASB', '◌ Silent', '0', '0'],
          ],
        );
        const high = await rows(page.locator('table.detections'));
        assert.deepEqual(
          high.map((r) => [r[1].split(' ').slice(0, 2).join(' '), r[2], r[4]]),
          [
            ['Di Evans', 'admin@example.com', 'High'],
            ['Bo Chen', 'Acme EDR', 'High'],
            ['Ana Lee', 'Acme EDR', 'High'],
          ],
        );
        await screenshot(page, 'dashboard-reports');
        // The 7-day toggle is a link: the URL holds the choice.
        await page.getByRole('link', { name: 'Last 7 days', exact: true }).click();
        await page.waitForURL((url) => url.search === '?window=7d');
        await expectHeading(page, 'Dashboard');
        assert.equal(await stat(page, 'Detections (last 7 days)'), '6');

        // ---- Reports › Entity risk ----
        await navigate(page, 'Entity risk');
        assert.equal(await stat(page, 'Detections'), '6');
        assert.equal(await stat(page, 'High-risk detections'), '3');
        assert.equal(await stat(page, 'Logouts triggered'), '1');
        assert.equal(await stat(page, 'Workflows triggered'), '1');
        assert.equal(
          await page.locator('#er-source-chart desc').textContent(),
          'Acme EDR: 2; Beta MDM: 2; Administrators: 1; Riskline: 1.',
        );
        assert.match(await page.locator('#er-time-chart desc').textContent(), /^6 detections between /);
        const rules = await rows(page.getByRole('region', { name: 'Rules matched most' }).locator('table'));
        assert.deepEqual(
          rules.map((r) => r.slice(0, 3)),
          [
            ['Catch-all rule', 'Log only', '3'],
            ['High risk: log out', 'Universal Logout', '1'],
            ['Medium: workflow', 'Delegated workflow', '1'],
          ],
        );
        const list = await rows(page.locator('table.detections'));
        assert.equal(list.length, 6);
        assert.deepEqual(
          list.map((r) => [r[1].split(' ').slice(0, 2).join(' '), r[2], r[4]]),
          [
            ['Di Evans', 'admin@example.com', 'High'],
            ['Di Evans', 'Beta MDM', 'Low'],
            ['Cy Diaz', 'Beta MDM', 'Medium'],
            ['Bo Chen', 'Acme EDR', 'High'],
            ['Ana Lee', 'Riskline', 'Low'],
            ['Ana Lee', 'Acme EDR', 'High'],
          ],
        );
        // Each detection links to its events in the System Log.
        const firstLog = await page.locator('table.detections tbody tr').first().getByRole('link', { name: /^Events/ }).getAttribute('href');
        assert.match(firstLog, /^\/admin\/reports\/system-log\?range=custom&since=.*&filter=transaction\.id%20eq%20%22/);
        await screenshot(page, 'entity-risk');

        // Filters are a GET form: the URL holds them.
        await page.getByLabel('Source', { exact: true }).selectOption({ label: 'Acme EDR' });
        await page.getByLabel('Reported level').selectOption('HIGH');
        await page.getByRole('button', { name: 'Apply', exact: true }).click();
        await page.waitForURL((url) => url.searchParams.get('level') === 'HIGH');
        await expectHeading(page, 'Entity risk');
        assert.equal(await stat(page, 'Detections'), '2');
        assert.equal(await stat(page, 'Logouts triggered'), '1');
        assert.equal(await stat(page, 'Workflows triggered'), '0');
        // A custom range without dates says what is missing.
        await goto(page, '/admin/reports/entity-risk?range=custom');
        await page.getByText('Choose the first day of the range (YYYY-MM-DD).').waitFor();

        // ---- Reports › At-risk users ----
        await navigate(page, 'At-risk users');
        await page.getByText('Showing 1–3 of 3 people').waitFor();
        const atRisk = page.locator('table.at-risk');
        assert.deepEqual(
          (await rows(atRisk)).map((r) => [r[0].split(' ').slice(0, 2).join(' '), r[1], r[3], r[4]]),
          [
            ['Di Evans', 'High', 'Stolen laptop', 'Administrators'],
            ['Bo Chen', 'High', 'Reported high by the test', 'Acme EDR'],
            ['Cy Diaz', 'Medium', 'Reported medium by the test', 'Beta MDM'],
          ],
        );
        await screenshot(page, 'at-risk-users');
        // Sort by name.
        await atRisk.getByRole('link', { name: /^Name/ }).click();
        await page.waitForURL((url) => url.searchParams.get('sort') === 'name');
        await expectHeading(page, 'At-risk users');
        await page.locator('table.at-risk th[data-sort=name][aria-sort=ascending]').waitFor();
        assert.deepEqual(
          (await rows(page.locator('table.at-risk'))).map((r) => r[0].split(' ').slice(0, 2).join(' ')),
          ['Bo Chen', 'Cy Diaz', 'Di Evans'],
        );

        // The CSV has the rows the page shows, in its order.
        const [download] = await Promise.all([
          page.waitForEvent('download'),
          page.getByRole('link', { name: 'Download CSV' }).click(),
        ]);
        const csv = (await readFile(await download.path(), 'utf8')).trimEnd().split('\r\n');
        assert.equal(
          csv[0],
          'Name,Login,Email,Level,Since (UTC),Top reason,Source,Last detection (UTC),User ID',
        );
        assert.deepEqual(
          csv.slice(1).map((line) => line.split(',').filter((_, i) => [0, 3, 5, 6].includes(i))),
          [
            ['Bo Chen', 'HIGH', 'Reported high by the test', 'Acme EDR'],
            ['Cy Diaz', 'MEDIUM', 'Reported medium by the test', 'Beta MDM'],
            ['Di Evans', 'HIGH', 'Stolen laptop', 'Administrators'],
          ],
        );
        assert.match(download.suggestedFilename(), /^at-risk-users-\d{4}-\d{2}-\d{2}\.csv$/);

        // Filter to High and the export follows.
        await page.getByLabel('Level', { exact: true }).selectOption('HIGH');
        await page.getByRole('button', { name: 'Apply', exact: true }).click();
        await page.waitForURL((url) => url.searchParams.get('level') === 'HIGH');
        await page.getByText('Showing 1–2 of 2 people').waitFor();
        const res = await page.request.get(
          await page.getByRole('link', { name: 'Download CSV' }).getAttribute('href'),
        );
        assert.equal(res.status(), 200);
        assert.match(res.headers()['content-type'], /^text\/csv/);
        const highCsv = (await res.text()).trimEnd().split('\r\n');
        assert.deepEqual(
          highCsv.slice(1).map((line) => line.split(',')[0]),
          ['Bo Chen', 'Di Evans'],
        );
        // Signed out, the export sends the browser to sign in.
        const anonymous = await fetch(`${baseUrl}/admin/reports/at-risk-users/export`, { redirect: 'manual' });
        assert.equal(anonymous.status, 303);
        assert.equal(
          anonymous.headers.get('location'),
          '/login?next=%2Fadmin%2Freports%2Fat-risk-users%2Fexport',
        );

        // The pages hydrated without errors (charts included).
        assert.deepEqual(page.consoleErrors, []);

        // Without the wasm the reports render whole on the server.
        const nojs = await newPage({ javaScriptEnabled: false });
        await signIn(nojs, baseUrl, ADMIN_EMAIL, ADMIN_PASSWORD);
        await nojs.goto('/admin/reports/entity-risk?range=24h&level=HIGH');
        await expectHeading(nojs, 'Entity risk');
        assert.equal(await stat(nojs, 'Detections'), '3');
        await nojs.goto('/');
        await expectHeading(nojs, 'Dashboard');
        assert.equal(await stat(nojs, 'People at risk now'), '3');
      },
      { env: { RISKLINE_BOOTSTRAP_API_TOKEN: TOKEN } },
    );
  } finally {
    await beta.stop();
    await gamma.stop();
  }
});

test('reports explain themselves when there is no data yet', async () => {
  await withRiskline(shared.browser, 'reports-empty', async ({ baseUrl, newPage }) => {
    const page = await newPage();
    await signIn(page, baseUrl, ADMIN_EMAIL, ADMIN_PASSWORD);
    await navigate(page, 'Dashboard');
    await page.getByText('No high-risk detections').waitFor();
    await page.getByText(/No streams yet/).waitFor();
    await navigate(page, 'Entity risk');
    await page.getByRole('heading', { name: 'No detections in this range' }).waitFor();
    assert.equal(await stat(page, 'Detections'), '0');
    await navigate(page, 'At-risk users');
    await page.getByRole('heading', { name: 'Nobody is at Medium or High risk' }).waitFor();
  });
});
