// Browser test: the Catch-all rule's action is changed in the console, and nothing else about
// it. Its row has a Change action link (not for read-only admins); the form shows only the
// action, with the rest explained as fixed; a refused save (by the form's checks or the
// core's) changes nothing; a save changes the action alone (the REST API says so: priority
// 99, ACTIVE, conditions null) and is logged as policy.rule.update. Also without JavaScript.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ADMIN_EMAIL,
  ADMIN_PASSWORD,
  apiClient,
  eventually,
  goto,
  navigate,
  screenshot,
  signIn,
  useBrowser,
  withRiskline,
} from './harness.mjs';

const TOKEN = '00e2e-catch-all-token-0123456789abcdef';
const ENV = { RISKLINE_BOOTSTRAP_API_TOKEN: TOKEN };
const POLICY = '00pentityrisk0000001';
const CATCH_ALL = '0prcatchall000000001';
const POLICY_PAGE = '/admin/security/entity-risk-policy';
const UPDATE_FILTER = encodeURIComponent('eventType eq "policy.rule.update"');
const FORM_NAME = /^Change the Catch-all rule.s action$/;

const shared = useBrowser();

const api = apiClient(TOKEN);

/** Logout apps CRM and HR, a workflow, and a custom rule above the Catch-all rule. */
async function seed(baseUrl) {
  const crm = await api(baseUrl, 'POST', '/api/v1/logout-apps', {
    name: 'CRM',
    endpointUrl: 'http://127.0.0.1:9/gtr',
    clientId: 'crm',
    auth: { type: 'signed_jwt' },
  });
  const hr = await api(baseUrl, 'POST', '/api/v1/logout-apps', {
    name: 'HR',
    endpointUrl: 'http://127.0.0.1:9/hr',
    clientId: 'hr',
    auth: { type: 'signed_jwt' },
  });
  const workflow = await api(baseUrl, 'POST', '/api/v1/workflows', {
    name: 'Open a ticket',
    url: 'http://127.0.0.1:9/hook',
  });
  await api(baseUrl, 'POST', `/api/v1/policies/${POLICY}/rules`, {
    type: 'ENTITY_RISK',
    name: 'High risk: log out',
    conditions: { entityRisk: { level: 'HIGH' } },
    actions: { entityRisk: { actions: [{ action: 'TERMINATE_ALL_SESSIONS' }] } },
  });
  return { crm, hr, workflow };
}

const rules = (baseUrl) => api(baseUrl, 'GET', `/api/v1/policies/${POLICY}/rules`);
const catchAll = async (baseUrl) => (await rules(baseUrl)).find((r) => r.id === CATCH_ALL);
const updates = (baseUrl) => api(baseUrl, 'GET', `/api/v1/logs?filter=${UPDATE_FILTER}`);

/** The Catch-all rule as the API shows it: `actions` as given, everything else as it was. */
async function assertOnlyTheActionChanged(baseUrl, before, actions) {
  const rule = await catchAll(baseUrl);
  assert.deepEqual(rule.actions.entityRisk.actions, actions);
  assert.equal(rule.priority, 99);
  assert.equal(rule.status, 'ACTIVE');
  assert.equal(rule.conditions, null);
  assert.equal(rule.system, true);
  assert.equal(rule.name, 'Catch-all rule');
  const { actions: _a, lastUpdated: _l, ...rest } = rule;
  const { actions: _b, lastUpdated: _m, ...restBefore } = before;
  assert.deepEqual(rest, restBefore);
  // Still last in the list the policy runs.
  const all = await rules(baseUrl);
  assert.equal(all[all.length - 1].id, CATCH_ALL);
}

test('the Catch-all rule’s action is changed in the console, and nothing else', async () => {
  await withRiskline(
    shared.browser,
    'catch-all',
    async ({ baseUrl, newPage }) => {
      const { crm } = await seed(baseUrl);
      const doomed = await api(baseUrl, 'POST', '/api/v1/workflows', {
        name: 'Removed meanwhile',
        url: 'http://127.0.0.1:9/gone',
      });
      const before = await catchAll(baseUrl);
      assert.deepEqual(before.actions.entityRisk.actions, []);
      const page = await newPage();
      await signIn(page, baseUrl, ADMIN_EMAIL, ADMIN_PASSWORD);
      await navigate(page, 'Entity Risk Policy');

      // The Catch-all row offers its action, and no other change.
      const row = page.getByRole('row', { name: /Catch-all rule/ });
      await row.waitFor();
      assert.match(await row.textContent(), /No further action/);
      for (const name of ['Edit', 'Move up', 'Move down', 'Deactivate', 'Delete']) {
        assert.equal(await row.getByRole('link', { name, exact: true }).count(), 0, name);
        assert.equal(await row.getByRole('button', { name, exact: true }).count(), 0, name);
      }
      await row.getByRole('link', { name: 'Change action', exact: true }).click();
      await page.waitForURL((url) => url.searchParams.get('edit') === CATCH_ALL);
      const form = page.getByRole('region', { name: FORM_NAME });
      await form.waitFor();
      const save = form.getByRole('button', { name: 'Save action', exact: true });

      // Only the action shows; the rest is said to be fixed.
      await form.getByText('Always matches: every user, every detection, any risk level').waitFor();
      await form.getByText('99: always last, below every other rule').waitFor();
      await form.getByText('Always active: it cannot be deactivated, renamed or deleted').waitFor();
      assert.equal(await form.getByRole('textbox', { name: 'Rule name' }).count(), 0);
      assert.equal(await form.getByRole('radio', { name: 'Any group' }).count(), 0);
      assert.equal(await form.getByRole('radio', { name: 'Any detection' }).count(), 0);
      assert.equal(await form.getByRole('combobox', { name: 'AND Entity risk level is' }).count(), 0);
      assert.ok(await form.getByRole('radio', { name: 'No further action', exact: true }).isChecked());
      assert.ok(await form.getByRole('radio', { name: 'All logout apps', exact: true }).isChecked());
      assert.equal(await page.getByRole('region', { name: 'Add rule', exact: true }).count(), 0);
      // The chosen action takes the cursor, which brings the form into view.
      await eventually(async () =>
        assert.deepEqual(
          await page.evaluate(() => [document.activeElement?.name, document.activeElement?.value]),
          ['action', 'none'],
        ),
      );
      await screenshot(page, 'catch-all-open');

      // Refused by the form's checks: "Only these" with nothing ticked.
      await form.getByRole('radio', { name: 'Logout and revoke tokens', exact: true }).check();
      await form.getByRole('radio', { name: 'Only these', exact: true }).check();
      await save.click();
      await form.getByRole('alert').getByText(/Tick at least one logout app for .Only these./).waitFor();
      await form.locator('#catch-all-apps-error').waitFor();
      assert.ok(await form.getByRole('radio', { name: 'Only these', exact: true }).isChecked());
      assert.deepEqual(await catchAll(baseUrl), before);

      // Refused by the core, as the API would be: the workflow was removed meanwhile.
      await form.getByRole('radio', { name: 'Run a delegated workflow', exact: true }).check();
      await form.getByRole('combobox', { name: 'Workflow to run' }).selectOption(String(doomed.id));
      await api(baseUrl, 'DELETE', `/api/v1/workflows/${doomed.id}`);
      await save.click();
      await form
        .locator('#catch-all-workflow-error')
        .getByText(/That workflow no longer exists/)
        .waitFor();
      assert.deepEqual(await catchAll(baseUrl), before);
      assert.equal((await updates(baseUrl)).length, 0, 'a refused save was logged as an update');
      await screenshot(page, 'catch-all-refused');

      // Saved: a Universal Logout of CRM only. The form closes; the row says so.
      await form.getByRole('radio', { name: 'Logout and revoke tokens', exact: true }).check();
      await form.getByRole('radio', { name: 'Only these', exact: true }).check();
      await form.getByRole('checkbox', { name: 'CRM', exact: true }).check();
      await save.click();
      await form.waitFor({ state: 'detached' });
      await eventually(async () => assert.match(await row.textContent(), /Logout and revoke tokens \(CRM\)/));
      assert.equal(new URL(page.url()).search, '', 'the address still opens the form');
      await page.getByRole('region', { name: 'Add rule', exact: true }).waitFor();
      await assertOnlyTheActionChanged(baseUrl, before, [
        { action: 'TERMINATE_ALL_SESSIONS', universalLogout: { apps: [crm.id] } },
      ]);

      // Reopened, the form shows the saved action; back to log only.
      await row.getByRole('link', { name: 'Change action', exact: true }).click();
      await form.waitFor();
      assert.ok(await form.getByRole('radio', { name: 'Logout and revoke tokens', exact: true }).isChecked());
      assert.ok(await form.getByRole('radio', { name: 'Only these', exact: true }).isChecked());
      assert.ok(await form.getByRole('checkbox', { name: 'CRM', exact: true }).isChecked());
      assert.ok(!(await form.getByRole('checkbox', { name: 'HR', exact: true }).isChecked()));
      assert.equal(await form.getByRole('alert').count(), 0, 'the last error greets a new edit');
      await form.getByRole('radio', { name: 'No further action', exact: true }).check();
      await save.click();
      await form.waitFor({ state: 'detached' });
      await eventually(async () => assert.match(await row.textContent(), /No further action/));
      await assertOnlyTheActionChanged(baseUrl, before, []);

      // Cancel changes nothing.
      await row.getByRole('link', { name: 'Change action', exact: true }).click();
      await form.waitFor();
      await form.getByRole('radio', { name: 'Logout and revoke tokens', exact: true }).check();
      await form.getByRole('link', { name: 'Cancel', exact: true }).click();
      await form.waitFor({ state: 'detached' });
      await assertOnlyTheActionChanged(baseUrl, before, []);

      // Each save is one policy.rule.update, by the admin, naming the Catch-all rule.
      const events = await updates(baseUrl);
      assert.equal(events.length, 2);
      for (const e of events) {
        assert.equal(e.actor.alternateId, ADMIN_EMAIL);
        assert.equal(e.outcome.result, 'SUCCESS');
        assert.ok(e.target.some((t) => t.id === CATCH_ALL && t.type === 'PolicyRule'), JSON.stringify(e.target));
      }
      const errors = page.consoleErrors.filter((e) => !/status of 400 \(Bad Request\)/.test(e));
      assert.deepEqual(errors, []);
    },
    { env: ENV },
  );
});

test('without JavaScript the Catch-all action changes too; read-only admins cannot change it', async () => {
  await withRiskline(
    shared.browser,
    'catch-all-plain',
    async ({ baseUrl, newPage }) => {
      await seed(baseUrl);
      const before = await catchAll(baseUrl);
      const admin = await newPage();
      await signIn(admin, baseUrl, ADMIN_EMAIL, ADMIN_PASSWORD);
      const plain = await newPage({ javaScriptEnabled: false });
      await plain.context().addCookies(await admin.context().cookies());
      await plain.goto(POLICY_PAGE);
      const row = plain.getByRole('row', { name: /Catch-all rule/ });
      await row.getByRole('link', { name: 'Change action', exact: true }).click();
      await plain.waitForURL((url) => url.searchParams.get('edit') === CATCH_ALL);
      const form = plain.getByRole('region', { name: FORM_NAME });
      const save = form.getByRole('button', { name: 'Save action', exact: true });
      assert.ok(await form.getByRole('radio', { name: 'No further action', exact: true }).isChecked());

      // Refused: the form comes back with the error, and nothing changed.
      await form.getByRole('radio', { name: 'Run a delegated workflow', exact: true }).check();
      await save.click();
      await form.getByRole('alert').getByText('Choose the workflow to run, or another THEN action.').waitFor();
      assert.deepEqual(await catchAll(baseUrl), before);

      // Saved: a Universal Logout of every logout app; back on the list, which says so.
      await form.getByRole('radio', { name: 'Logout and revoke tokens', exact: true }).check();
      await form.getByRole('radio', { name: 'All logout apps', exact: true }).check();
      await save.click();
      await plain.waitForURL((url) => url.pathname === POLICY_PAGE && url.search === '');
      assert.match(await row.textContent(), /Logout and revoke tokens \(all logout apps\)/);
      assert.equal(await plain.getByRole('region', { name: FORM_NAME }).count(), 0);
      await assertOnlyTheActionChanged(baseUrl, before, [
        { action: 'TERMINATE_ALL_SESSIONS', universalLogout: { apps: 'ALL' } },
      ]);

      // And back to log only.
      await row.getByRole('link', { name: 'Change action', exact: true }).click();
      await plain.waitForURL((url) => url.searchParams.get('edit') === CATCH_ALL);
      assert.ok(await form.getByRole('radio', { name: 'Logout and revoke tokens', exact: true }).isChecked());
      await form.getByRole('radio', { name: 'No further action', exact: true }).check();
      await save.click();
      await plain.waitForURL((url) => url.pathname === POLICY_PAGE && url.search === '');
      assert.match(await row.textContent(), /No further action/);
      await assertOnlyTheActionChanged(baseUrl, before, []);
      assert.equal((await updates(baseUrl)).length, 2);

      // A read-only admin sees the Catch-all rule but no Change action, and no form at its address.
      await navigate(admin, 'Administrators');
      await admin.getByRole('textbox', { name: 'Email', exact: true }).fill('analyst@example.com');
      await admin.getByRole('textbox', { name: 'Display name', exact: true }).fill('Ana Lyst');
      await admin.getByLabel('Password', { exact: true }).fill('Analyst-e2e-Passw0rd!');
      await admin.getByRole('combobox', { name: 'Role' }).selectOption({ label: 'Read-only admin' });
      await admin.getByRole('button', { name: 'Add administrator', exact: true }).click();
      await admin.getByRole('row', { name: /analyst@example\.com/ }).waitFor();
      const analyst = await newPage();
      await signIn(analyst, baseUrl, 'analyst@example.com', 'Analyst-e2e-Passw0rd!');
      await goto(analyst, POLICY_PAGE);
      const seen = analyst.getByRole('row', { name: /Catch-all rule/ });
      await seen.waitFor();
      assert.equal(await seen.getByRole('link').count(), 0);
      assert.equal(await analyst.getByRole('link', { name: 'Change action' }).count(), 0);
      await goto(analyst, `${POLICY_PAGE}?edit=${CATCH_ALL}`);
      await analyst.getByText('Read-only admins cannot change rules').waitFor();
      assert.equal(await analyst.getByRole('radio', { name: 'No further action' }).count(), 0);
      assert.equal(await analyst.getByRole('button', { name: 'Save action' }).count(), 0);
    },
    { env: ENV },
  );
});
