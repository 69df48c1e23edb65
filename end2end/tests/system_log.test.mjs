// Browser tests of Reports › System Log: search by keyword and by filter (with the filter's
// error under its box), expand an event, quick filters, export, the live tail showing a SET
// posted during the test (with Pause / Resume), and the page without JavaScript.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import {
  ADMIN_EMAIL,
  ADMIN_PASSWORD,
  apiClient,
  eventually,
  expectHeading,
  navigate,
  screenshot,
  signIn,
  signSet,
  useBrowser,
  withRiskline,
} from './harness.mjs';

const USER_RISK = 'https://schemas.okta.com/secevent/okta/event-type/user-risk-change';
const TOKEN = '00e2e-system-log-token-0123456789abcdef';
const ENV = { RISKLINE_BOOTSTRAP_API_TOKEN: TOKEN };

const shared = useBrowser();

const api = apiClient(TOKEN);

/** A stream for the transmitter and a person it can report, through the REST API. */
async function setUp(baseUrl, transmitter) {
  await api(baseUrl, 'POST', '/api/v1/security-events-providers', {
    name: 'Acme EDR',
    type: 'edr',
    settings: { well_known_url: transmitter.wellKnownUrl },
  });
  await api(baseUrl, 'POST', '/api/v1/users', {
    profile: { login: 'ana@example.com', email: 'ana@example.com', firstName: 'Ana', lastName: 'Lee' },
  });
}

/** Posts a signed SET raising ana@example.com to `level`; its jti. */
async function postSet(baseUrl, transmitter, level) {
  const jti = randomUUID();
  const claims = {
    iss: transmitter.issuer,
    aud: baseUrl,
    iat: Math.floor(Date.now() / 1000),
    jti,
    events: {
      [USER_RISK]: {
        subject: { user: { format: 'email', email: 'ana@example.com' } },
        current_level: level,
        previous_level: 'low',
        reason_admin: { en: `Live tail test ${level}` },
      },
    },
  };
  const res = await fetch(`${baseUrl}/security/api/v1/security-events`, {
    method: 'POST',
    headers: { 'content-type': 'application/secevent+jwt' },
    body: signSet(transmitter, claims),
  });
  assert.equal(res.status, 202, await res.text());
  return jti;
}

/** The rows of the page's result list (not the live ones). */
const rows = (page) => page.getByRole('list', { name: 'Events', exact: true }).locator(':scope > li');
const liveRows = (page) => page.getByRole('list', { name: 'Live events', exact: true }).locator(':scope > li');

/** Runs `action` (which opens another search) and waits until that page is shown. */
async function load(page, action) {
  const before = page.url();
  await action();
  await page.waitForURL((u) => u.href !== before);
  await expectHeading(page, 'System Log');
  await page.waitForFunction(() => !document.querySelector('.loading'));
}

const submit = (page) => load(page, () => page.getByRole('button', { name: 'Search', exact: true }).click());
const reset = (page) => load(page, () => page.getByRole('link', { name: 'Reset', exact: true }).click());

/** `assert.equal(await count(), n)`, once the page has settled. */
const expectCount = (count, n) => eventually(async () => assert.equal(await count(), n));

async function search(page, { q, filter }) {
  if (q !== undefined) await page.getByLabel('Keywords').fill(q);
  if (filter !== undefined) await page.getByLabel('Filter expression').fill(filter);
  await submit(page);
}

test('System Log: search, filter, expand, export, live tail', async () => {
  await withRiskline(
    shared.browser,
    'system-log',
    async ({ baseUrl, transmitter, newPage }) => {
      await setUp(baseUrl, transmitter);
      const page = await newPage();
      await signIn(page, baseUrl, ADMIN_EMAIL, ADMIN_PASSWORD);
      await navigate(page, 'System Log');

      // The admin's changes and sign-in, newest first, with the chart over the range.
      await rows(page).filter({ hasText: 'security.events.provider.create' }).waitFor();
      await rows(page).filter({ hasText: 'user.session.start' }).first().waitFor();
      await page.getByRole('img', { name: /Events over time/ }).waitFor();

      // Keywords: the URL holds them, and only matching events show.
      await search(page, { q: 'acme' });
      assert.match(page.url(), /[?&]q=acme(&|$)/);
      await rows(page).filter({ hasText: 'security.events.provider.create' }).waitFor();
      assert.equal(await rows(page).filter({ hasText: 'user.session.start' }).count(), 0);
      assert.equal(await page.getByLabel('Keywords').inputValue(), 'acme');

      // A filter that does not parse: the error under the box, no results.
      await search(page, { q: '', filter: 'eventType eq' });
      const error = page.locator('#log-filter-error');
      await error.waitFor();
      assert.match(await error.textContent(), /expected a value after "eq" at position 12/);
      assert.equal(await page.getByLabel('Filter expression').getAttribute('aria-invalid'), 'true');

      // A filter that does: only sign-ins.
      await search(page, { filter: 'eventType eq "user.session.start"' });
      assert.match(page.url(), /filter=eventType/);
      const signIns = rows(page);
      await signIns.first().waitFor();
      const texts = await signIns.allTextContents();
      assert.ok(texts.length >= 1);
      for (const t of texts) assert.match(t, /user\.session\.start/);

      // Expand an event: the whole LogEvent as JSON.
      const first = signIns.first();
      const json = first.locator('pre.log-json');
      assert.equal(await json.isVisible(), false);
      await first.locator('summary .log-time').click();
      await json.waitFor();
      const event = JSON.parse(await json.textContent());
      assert.equal(event.eventType, 'user.session.start');
      assert.equal(event.actor.alternateId, ADMIN_EMAIL);

      // Export the current search: CSV with the same event, through the session cookie.
      const csvHref = await page.getByRole('link', { name: 'Export CSV' }).getAttribute('href');
      const csv = await page.request.get(csvHref);
      assert.equal(csv.status(), 200);
      assert.match(csv.headers()['content-type'], /^text\/csv/);
      const lines = (await csv.text()).trim().split('\r\n');
      assert.match(lines[0], /^published,uuid,eventType,/);
      assert.equal(lines.length, texts.length + 1);
      assert.ok(lines.slice(1).every((l) => l.includes('user.session.start')));
      const jsonl = await page.request.get(
        await page.getByRole('link', { name: 'Export JSON lines' }).getAttribute('href'),
      );
      assert.equal(JSON.parse((await jsonl.text()).split('\n')[0]).uuid, event.uuid);

      // Quick filter by event type, from the list of types in the log.
      await reset(page);
      await page.getByLabel('Event type').selectOption('security.events.provider.create');
      await submit(page);
      assert.match(page.url(), /type=security\.events\.provider\.create/);
      await expectCount(() => rows(page).count(), 1);

      // "Load more" follows the cursor: 60 more events than a page holds.
      for (let i = 0; i < 60; i++) {
        await api(baseUrl, 'POST', '/api/v1/users', {
          profile: { login: `user${i}@example.com`, email: `user${i}@example.com`, firstName: 'User', lastName: `${i}` },
        });
      }
      await reset(page);
      await expectCount(() => rows(page).count(), 50);
      const more = page.getByRole('link', { name: 'Load more' });
      assert.match(await more.getAttribute('href'), /[?&]after=/);
      await more.click();
      await page.waitForFunction(
        () => document.querySelectorAll('ol[aria-label="Events"] > li').length > 50,
      );
      assert.ok(page.url().endsWith('/admin/reports/system-log'), 'appended in place');
      const all = await rows(page).allTextContents();
      assert.equal(new Set(all).size, all.length, 'no event twice');
      await more.waitFor({ state: 'detached' });

      // Live tail: a SET posted now appears without a reload.
      const tail = page.getByRole('group', { name: 'Live tail' });
      await tail.getByRole('button', { name: 'Start live tail' }).click();
      await tail.getByText(/^Live: 0 new events$/).waitFor();
      const jti = await postSet(baseUrl, transmitter, 'high');
      const received = liveRows(page).filter({ hasText: 'security.events.provider.receive_event' });
      await received.first().waitFor();
      await liveRows(page).filter({ hasText: 'user.risk.detect' }).first().waitFor();
      await received.first().locator('summary .log-time').click();
      assert.equal(JSON.parse(await received.first().locator('pre').textContent()).debugContext.debugData.jti, jti);
      await screenshot(page, 'system-log');

      // Paused, nothing is added; resumed, what was written meanwhile arrives.
      await tail.getByRole('button', { name: 'Pause' }).click();
      await tail.getByText(/^Paused: /).waitFor();
      const before = await liveRows(page).count();
      const jti2 = await postSet(baseUrl, transmitter, 'medium');
      await page.waitForTimeout(1500);
      assert.equal(await liveRows(page).count(), before);
      await tail.getByRole('button', { name: 'Resume' }).click();
      await page.waitForFunction(
        (id) => [...document.querySelectorAll('ol.log-live pre')].some((p) => p.textContent.includes(id)),
        jti2,
      );
      await tail.getByText(/^Live: /).waitFor();
      assert.deepEqual(page.consoleErrors, []);
    },
    { env: ENV },
  );
});

test('System Log without JavaScript: search and expand work, the tail says it needs JavaScript', async () => {
  await withRiskline(
    shared.browser,
    'system-log-nojs',
    async ({ baseUrl, transmitter, newPage }) => {
      await setUp(baseUrl, transmitter);
      await postSet(baseUrl, transmitter, 'high');
      const page = await newPage({ javaScriptEnabled: false });
      await signIn(page, baseUrl, ADMIN_EMAIL, ADMIN_PASSWORD);
      await page.goto('/admin/reports/system-log');
      await expectHeading(page, 'System Log');
      await page.getByText('Live tail needs JavaScript').waitFor();

      await search(page, { filter: 'eventType eq "user.risk.detect"' });
      const detection = rows(page).first();
      await detection.waitFor();
      await expectCount(() => rows(page).count(), 1);
      await detection.locator('summary .log-time').click();
      const event = JSON.parse(await detection.locator('pre').textContent());
      assert.equal(event.debugContext.debugData.risk.level, 'HIGH');

      // A custom range (UTC), shown only once chosen; an empty one and a reversed one.
      const from = page.getByLabel('From (UTC)');
      assert.equal(await from.isVisible(), false);
      await page.getByLabel('Time range').selectOption('custom');
      await from.waitFor();
      const iso = (ms) => new Date(ms).toISOString().slice(0, 19);
      await from.fill(iso(Date.now() - 3_600_000));
      await page.getByLabel('To (UTC)').fill(iso(Date.now() + 60_000));
      await submit(page);
      assert.match(page.url(), /range=custom&since=/);
      await expectCount(() => rows(page).count(), 1);
      assert.equal(await page.getByLabel('Time range').inputValue(), 'custom');
      await page.getByLabel('From (UTC)').fill(iso(Date.now() - 7_200_000));
      await page.getByLabel('To (UTC)').fill(iso(Date.now() - 3_600_000));
      await submit(page);
      await page.getByText('No events match').waitFor();
      await page.getByText('Live tail follows the relative time ranges').waitFor();
      await page.getByLabel('To (UTC)').fill(iso(Date.now() - 9_000_000));
      await submit(page);
      await page.getByText('The end must be after the start.').waitFor();

      await search(page, { filter: 'colour eq "red"' });
      await page.getByText('The filter does not parse: unknown attribute "colour" at position 0.').waitFor();
      await screenshot(page, 'system-log-nojs');
    },
    { env: ENV },
  );
});
