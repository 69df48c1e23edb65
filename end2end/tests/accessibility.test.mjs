// Browser tests of accessibility: every console page, with data on it and its forms and menus
// open, passes axe-core's WCAG 2.0/2.1 A/AA and best-practice rules (no violation of any impact
// but the moderate or minor rules listed in ALLOWED_RULES, each with its reason), and the
// keyboard and screen-reader basics axe cannot see: a row's Actions menu opens and closes by
// keyboard with focus where it should be, and a form's errors are announced and tied to their
// fields.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import {
  ADMIN_EMAIL,
  ADMIN_PASSWORD,
  apiClient,
  eventually,
  expectHeading,
  goto,
  signIn,
  signSet,
  useBrowser,
  waitForHydration,
  withRiskline,
} from './harness.mjs';

const require = createRequire(import.meta.url);
/** axe-core's source, run in the page with `page.evaluate` (which the page's CSP does not cover). */
const AXE_SOURCE = readFileSync(require.resolve('axe-core'), 'utf8');
const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'];

/**
 * Moderate (or minor) rules not failed on, as `{ ruleId: 'the reason' }`; serious and critical
 * violations always fail. Empty: the console passes every rule of the tags above.
 */
const ALLOWED_RULES = {};

const USER_RISK = 'https://schemas.okta.com/secevent/okta/event-type/user-risk-change';
const TOKEN = '00e2e-accessibility-token-0123456789abcdef';
const ENV = { RISKLINE_BOOTSTRAP_API_TOKEN: TOKEN };
const POLICY = '00pentityrisk0000001';

const shared = useBrowser();
const api = apiClient(TOKEN);

/**
 * A stream, a person at High risk (reported by a SET, so with a risk history), a group, a
 * logout app, a workflow and a rule: each page has something to show.
 */
async function seed(baseUrl, transmitter) {
  const stream = await api(baseUrl, 'POST', '/api/v1/security-events-providers', {
    name: 'Acme EDR',
    type: 'edr',
    settings: { well_known_url: transmitter.wellKnownUrl },
  });
  const ana = await api(baseUrl, 'POST', '/api/v1/users?activate=true', {
    profile: { login: 'ana@example.com', email: 'ana@example.com', firstName: 'Ana', lastName: 'Lee' },
  });
  await api(baseUrl, 'POST', '/api/v1/users?activate=true', {
    profile: { login: 'bo@example.com', email: 'bo@example.com', firstName: 'Bo', lastName: 'Chen' },
  });
  const group = await api(baseUrl, 'POST', '/api/v1/groups', { profile: { name: 'Finance', description: 'Money' } });
  await api(baseUrl, 'PUT', `/api/v1/groups/${group.id}/users/${ana.id}`);
  await api(baseUrl, 'POST', '/api/v1/logout-apps', {
    name: 'CRM',
    endpointUrl: 'http://127.0.0.1:9/gtr',
    clientId: 'crm',
    auth: { type: 'signed_jwt' },
  });
  const workflow = await api(baseUrl, 'POST', '/api/v1/workflows', {
    name: 'Open a ticket',
    url: 'http://127.0.0.1:9/hook',
  });
  await api(baseUrl, 'POST', `/api/v1/policies/${POLICY}/rules`, {
    type: 'ENTITY_RISK',
    name: 'Finance at medium risk',
    conditions: { entityRisk: { level: 'MEDIUM' }, people: { groups: { include: [group.id], exclude: [] } } },
    actions: { entityRisk: { actions: [{ action: 'RUN_WORKFLOW', workflow: { id: workflow.id } }] } },
  });
  const now = Math.floor(Date.now() / 1000);
  const res = await fetch(`${baseUrl}/security/api/v1/security-events`, {
    method: 'POST',
    headers: { 'content-type': 'application/secevent+jwt' },
    body: signSet(transmitter, {
      iss: transmitter.issuer,
      aud: baseUrl,
      iat: now,
      jti: randomUUID(),
      events: {
        [USER_RISK]: {
          subject: { user: { format: 'email', email: 'ana@example.com' } },
          current_level: 'high',
          previous_level: 'low',
          event_timestamp: now,
          reason_admin: { en: 'Ransomware detected on laptop' },
        },
      },
    }),
  });
  assert.equal(res.status, 202, await res.text());
  await eventually(async () =>
    assert.equal((await api(baseUrl, 'GET', `/api/v1/users/${ana.id}/risk`)).riskLevel, 'HIGH'),
  );
  return { stream, ana, group, workflow };
}

/** Runs axe-core on the page as it is now; its violations that fail the test. */
async function axeViolations(page) {
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) {
    await page.evaluate(AXE_SOURCE);
  }
  const results = await page.evaluate(
    (tags) => window.axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] }),
    AXE_TAGS,
  );
  assert.ok(results.passes.length > 10, `axe-core ran only ${results.passes.length} rules that passed on ${page.url()}`);
  return results.violations.filter((v) => !(v.id in ALLOWED_RULES) || ['serious', 'critical'].includes(v.impact));
}

function describe(where, violations) {
  return violations
    .map(
      (v) =>
        `${where}: [${v.impact}] ${v.id}: ${v.help}\n` +
        v.nodes.map((n) => `    ${n.target.join(' ')}\n      ${n.failureSummary?.replace(/\n/g, '\n      ')}`).join('\n'),
    )
    .join('\n');
}

test('every console page passes axe-core (WCAG 2.1 A/AA and best practices)', async () => {
  await withRiskline(
    shared.browser,
    'accessibility',
    async ({ baseUrl, transmitter, newPage }) => {
      const { stream, ana } = await seed(baseUrl, transmitter);
      const page = await newPage();
      const failures = [];
      const check = async (where) => {
        const violations = await axeViolations(page);
        if (violations.length) failures.push(describe(where, violations));
      };

      // The sign-in page, empty and after a failed sign-in.
      await goto(page, '/login');
      await check('sign-in');
      await page.getByLabel('Email', { exact: true }).fill(ADMIN_EMAIL);
      await page.getByLabel('Password', { exact: true }).fill('wrong-password-123');
      await page.getByRole('button', { name: 'Sign in', exact: true }).click();
      await page.getByRole('alert').waitFor();
      await check('sign-in, failed');

      await signIn(page, baseUrl, ADMIN_EMAIL, ADMIN_PASSWORD);
      const pages = [
        ['/', 'Dashboard'],
        ['/admin/security/device-integrations', 'Device Integrations'],
        [`/admin/security/device-integrations/streams/${stream.id}`, 'Acme EDR'],
        ['/admin/security/device-integrations/streams/new', 'Add stream'],
        [`/admin/security/device-integrations/streams/${stream.id}/edit`, 'Edit stream'],
        ['/admin/people', 'People'],
        ['/admin/people/import', 'Import people'],
        [`/admin/people/${ana.id}`, 'Ana Lee'],
        ['/admin/groups', 'Groups'],
        ['/admin/security/entity-risk-policy', 'Entity Risk Policy'],
        ['/admin/security/universal-logout', 'Universal Logout'],
        ['/admin/security/workflows', 'Workflows'],
        ['/admin/security/api/tokens', 'API tokens'],
        ['/admin/settings/admins', 'Administrators'],
        ['/admin/reports/system-log', 'System Log'],
        ['/admin/reports/entity-risk', 'Entity risk'],
        ['/admin/reports/at-risk-users', 'At-risk users'],
        ['/admin/no-such-page', 'Page not found'],
      ];
      for (const [path, heading] of pages) {
        await page.goto(path);
        await expectHeading(page, heading);
        await page.waitForFunction(() => !document.querySelector('.loading'));
        await check(path);
      }

      // Every <details> opened: the People page's Add person, confirmations, the group cards' Edit.
      const openAll = () =>
        page.evaluate(() => {
          for (const d of document.querySelectorAll('details:not(.menu)')) d.open = true;
        });
      for (const [path, heading] of [
        ['/admin/people', 'People'],
        [`/admin/people/${ana.id}`, 'Ana Lee'],
        ['/admin/groups', 'Groups'],
        ['/admin/security/universal-logout', 'Universal Logout'],
        ['/admin/security/api/tokens', 'API tokens'],
        ['/admin/settings/admins', 'Administrators'],
      ]) {
        await goto(page, path);
        await expectHeading(page, heading);
        await openAll();
        await check(`${path}, details open`);
      }

      // A stream row's Actions menu, open.
      await goto(page, '/admin/security/device-integrations');
      await page.getByRole('row', { name: /Acme EDR/ }).locator('details.menu > summary').click();
      await check('device integrations, row menu open');

      // The policy's Edit form open (the Add rule form is on the page too).
      await goto(page, '/admin/security/entity-risk-policy');
      await page.getByRole('link', { name: 'Edit', exact: true }).first().click();
      await page.getByRole('heading', { name: 'Edit rule', exact: true }).waitFor();
      await waitForHydration(page);
      await check('entity risk policy, Edit rule open');
      await goto(page, '/admin/security/entity-risk-policy');
      await page.getByRole('link', { name: 'Change action', exact: true }).click();
      await page.getByRole('heading', { name: /^Change the Catch-all rule.s action$/ }).waitFor();
      await check('entity risk policy, Catch-all rule Change action open');

      // The System Log with its results, each event expanded.
      await goto(page, '/admin/reports/system-log?range=90d');
      await expectHeading(page, 'System Log');
      const events = page.getByRole('list', { name: 'Events', exact: true }).locator(':scope > li');
      await events.first().waitFor();
      await page.evaluate(() => {
        for (const d of document.querySelectorAll('details')) d.open = true;
      });
      await check('system log, events expanded');

      // Forms showing their errors.
      await goto(page, '/admin/security/device-integrations/streams/new');
      await page.getByRole('textbox', { name: 'Integration name' }).fill('Legacy EDR');
      await page.getByRole('radio', { name: 'Issuer and JWKS URL' }).check();
      await page.getByRole('textbox', { name: 'Issuer', exact: true }).fill('https://edr.example');
      await page.getByRole('button', { name: 'Save', exact: true }).click();
      await page.locator('#jwks-url-error').waitFor();
      await check('add stream, with an error');

      // On a phone's width, with the navigation folded and then open.
      await page.setViewportSize({ width: 375, height: 812 });
      await goto(page, '/admin/people');
      await check('people, 375 px wide');
      await page.locator('label[for=nav-toggle]').click();
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Groups' }).waitFor();
      await check('people, 375 px wide, navigation open');

      assert.equal(failures.length, 0, `axe-core found violations:\n${failures.join('\n')}`);
    },
    { env: ENV },
  );
});

/** The focused element, described: its tag, text and whether it shows a focus ring. */
const focused = (page) =>
  page.evaluate(() => {
    const el = document.activeElement;
    const style = el && getComputedStyle(el);
    return {
      tag: el?.tagName.toLowerCase(),
      text: el?.textContent.trim(),
      inMenu: !!el?.closest('details.menu'),
      isSummary: !!el?.matches('details.menu > summary'),
      ring: !!el?.matches(':focus-visible') && style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2,
    };
  });

test('a row’s Actions menu opens and closes by keyboard, with focus visible and kept', async () => {
  await withRiskline(
    shared.browser,
    'accessibility-menu',
    async ({ baseUrl, transmitter, newPage }) => {
      await api(baseUrl, 'POST', '/api/v1/security-events-providers', {
        name: 'Acme EDR',
        type: 'edr',
        settings: { well_known_url: transmitter.wellKnownUrl },
      });
      const page = await newPage();
      await signIn(page, baseUrl, ADMIN_EMAIL, ADMIN_PASSWORD);
      await goto(page, '/admin/security/device-integrations');
      const row = page.getByRole('row', { name: /Acme EDR/ });
      const menu = row.locator('details.menu');
      const isOpen = () => menu.evaluate((d) => d.open);

      // Tab from the stream's name reaches its menu, whose name says which stream it is for.
      await row.getByRole('link', { name: 'Acme EDR', exact: true }).focus();
      await page.keyboard.press('Tab');
      let at = await focused(page);
      assert.ok(at.isSummary, `Tab should reach the Actions menu, not ${JSON.stringify(at)}`);
      assert.ok(at.ring, 'the focused menu should show a focus ring');
      assert.equal(await menu.locator(':scope > summary').getAttribute('aria-label'), 'Actions for Acme EDR');

      // Enter opens it and Tab goes into it; Escape closes it and focus returns to its summary.
      await page.keyboard.press('Enter');
      assert.equal(await isOpen(), true, 'Enter should open the menu');
      await page.keyboard.press('Tab');
      at = await focused(page);
      assert.ok(at.inMenu && at.text === 'Edit', `Tab should reach Edit in the menu, not ${JSON.stringify(at)}`);
      assert.ok(at.ring, 'the focused menu item should show a focus ring');
      await page.keyboard.press('Escape');
      assert.equal(await isOpen(), false, 'Escape should close the menu');
      at = await focused(page);
      assert.ok(at.isSummary, `focus should return to the menu's summary, not ${JSON.stringify(at)}`);
      assert.ok(at.ring, 'the summary should show a focus ring again');

      // Escape on the summary itself, and Enter twice, close it too.
      await page.keyboard.press('Enter');
      assert.equal(await isOpen(), true);
      await page.keyboard.press('Escape');
      assert.equal(await isOpen(), false);
      assert.ok((await focused(page)).isSummary);
      await page.keyboard.press('Enter');
      await page.keyboard.press('Enter');
      assert.equal(await isOpen(), false, 'Enter again should close the menu');

      // The Remove confirmation inside opens by keyboard as well.
      await page.keyboard.press('Enter');
      await page.keyboard.press('Tab'); // Edit
      await page.keyboard.press('Tab'); // Deactivate
      await page.keyboard.press('Tab'); // Remove
      at = await focused(page);
      assert.equal(at.text, 'Remove', JSON.stringify(at));
      await page.keyboard.press('Enter');
      await row.getByRole('button', { name: 'Remove stream', exact: true }).waitFor();
      await page.keyboard.press('Escape');
      assert.equal(await isOpen(), false);
      assert.ok((await focused(page)).isSummary);
    },
    { env: ENV },
  );
});

/**
 * Every field error shown on the page is announced (role="alert", or inside an aria-live
 * region) and tied to its field: an element whose aria-describedby names it and that says
 * aria-invalid="true". Answers how many were checked.
 */
async function checkFieldErrors(page, where) {
  const problems = await page.evaluate(() => {
    const out = [];
    const errors = [...document.querySelectorAll('.field-error')].filter((e) => e.checkVisibility());
    for (const e of errors) {
      const text = e.textContent.trim();
      if (!(e.getAttribute('role') === 'alert' || e.closest('[aria-live], [role=alert], [role=status]'))) {
        out.push(`"${text}" is not announced (no role="alert" or aria-live)`);
      }
      if (!e.id) {
        out.push(`"${text}" has no id for aria-describedby`);
        continue;
      }
      const fields = [...document.querySelectorAll('[aria-describedby]')].filter((f) =>
        f.getAttribute('aria-describedby').split(/\s+/).includes(e.id),
      );
      if (!fields.length) out.push(`"${text}" (#${e.id}) is named by no field's aria-describedby`);
      const controls = fields.filter((f) => !['FIELDSET'].includes(f.tagName));
      if (controls.length && !controls.every((f) => f.getAttribute('aria-invalid') === 'true')) {
        out.push(`the field of "${text}" (#${e.id}) is not aria-invalid="true"`);
      }
    }
    return { count: errors.length, out };
  });
  assert.ok(problems.count > 0, `${where}: no field error shown`);
  assert.deepEqual(problems.out, [], `${where}: ${problems.out.join('; ')}`);
}

test('form errors are announced and tied to their fields', async () => {
  await withRiskline(
    shared.browser,
    'accessibility-errors',
    async ({ baseUrl, newPage }) => {
      await api(baseUrl, 'POST', '/api/v1/groups', { profile: { name: 'Finance', description: '' } });
      const page = await newPage();
      await signIn(page, baseUrl, ADMIN_EMAIL, ADMIN_PASSWORD);

      // Add stream: the JWKS URL left out.
      await goto(page, '/admin/security/device-integrations/streams/new');
      await page.getByRole('textbox', { name: 'Integration name' }).fill('Legacy EDR');
      await page.getByRole('radio', { name: 'Issuer and JWKS URL' }).check();
      await page.getByRole('textbox', { name: 'Issuer', exact: true }).fill('https://edr.example');
      await page.getByRole('button', { name: 'Save', exact: true }).click();
      await page.locator('#jwks-url-error').waitFor();
      await checkFieldErrors(page, 'add stream');

      // Add group: a name already taken.
      await goto(page, '/admin/groups');
      await page.getByRole('textbox', { name: 'Group name' }).fill('Finance');
      await page.getByRole('button', { name: 'Add group', exact: true }).click();
      await page.locator('#group-name-error').waitFor();
      await checkFieldErrors(page, 'add group');

      // Add administrator: an email already taken.
      await goto(page, '/admin/settings/admins');
      await page.getByRole('textbox', { name: 'Email' }).fill(ADMIN_EMAIL);
      await page.getByLabel('Password', { exact: true }).fill('Another-Passw0rd-123');
      await page.getByRole('button', { name: 'Add administrator', exact: true }).click();
      await page.locator('#admin-email-error').waitFor();
      await checkFieldErrors(page, 'add administrator');

      // System Log: a filter that does not parse (a GET form, rendered by the server).
      await goto(page, `/admin/reports/system-log?filter=${encodeURIComponent('eventType eq')}`);
      await page.locator('#log-filter-error').waitFor();
      await checkFieldErrors(page, 'system log filter');

      // Entity risk report: custom dates that are not dates.
      await goto(page, '/admin/reports/entity-risk?range=custom&from=2026-02-30&to=nope');
      await page.locator('.field-error').first().waitFor();
      await checkFieldErrors(page, 'entity risk dates');
    },
    { env: ENV },
  );
});
