// Browser test: an Entity Risk Policy rule is edited in the form that adds rules, pre-filled
// with the rule. Saving keeps its id, priority and status and changes its name, conditions
// and action (the list and the REST API say so, and the System Log has policy.rule.update);
// Cancel and a refused save change nothing. Also without JavaScript, and read-only admins
// get no Edit.
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

const TOKEN = '00e2e-rule-edit-token-0123456789abcdef';
const ENV = { RISKLINE_BOOTSTRAP_API_TOKEN: TOKEN };
const POLICY = '00pentityrisk0000001';
const POLICY_PAGE = '/admin/security/entity-risk-policy';
const UPDATE_FILTER = encodeURIComponent('eventType eq "policy.rule.update"');

const shared = useBrowser();

const api = apiClient(TOKEN);

/**
 * Groups Finance and Sales, logout app CRM, workflow "Open a ticket", and a first rule that
 * names a user (only the API can: the form has no field for users).
 */
async function seed(baseUrl) {
  const finance = await api(baseUrl, 'POST', '/api/v1/groups', { profile: { name: 'Finance', description: '' } });
  await api(baseUrl, 'POST', '/api/v1/groups', { profile: { name: 'Sales', description: '' } });
  const crm = await api(baseUrl, 'POST', '/api/v1/logout-apps', {
    name: 'CRM',
    endpointUrl: 'http://127.0.0.1:9/gtr',
    clientId: 'crm',
    auth: { type: 'signed_jwt' },
  });
  const workflow = await api(baseUrl, 'POST', '/api/v1/workflows', {
    name: 'Open a ticket',
    url: 'http://127.0.0.1:9/hook',
  });
  const ana = await api(baseUrl, 'POST', '/api/v1/users', {
    profile: { email: 'ana@example.com', firstName: 'Ana', lastName: 'Lee' },
  });
  // So that the rule edited below is not simply the first.
  const first = await api(baseUrl, 'POST', `/api/v1/policies/${POLICY}/rules`, {
    type: 'ENTITY_RISK',
    name: 'Ana at high risk',
    conditions: { entityRisk: { level: 'HIGH' }, people: { users: { include: [ana.id], exclude: [] } } },
    actions: { entityRisk: { actions: [] } },
  });
  return { finance, crm, workflow, ana, first };
}

const rules = (baseUrl) => api(baseUrl, 'GET', `/api/v1/policies/${POLICY}/rules`);
const ruleNamed = async (baseUrl, name) => (await rules(baseUrl)).find((r) => r.name === name);
const ruleById = async (baseUrl, id) => (await rules(baseUrl)).find((r) => r.id === id);
const updates = (baseUrl) => api(baseUrl, 'GET', `/api/v1/logs?filter=${UPDATE_FILTER}`);

test('a rule is edited in place: Cancel and a refused save change nothing, Save keeps id, priority and status', async () => {
  await withRiskline(
    shared.browser,
    'rule-edit',
    async ({ baseUrl, newPage }) => {
      const { finance, crm, workflow, first } = await seed(baseUrl);
      const page = await newPage();
      await signIn(page, baseUrl, ADMIN_EMAIL, ADMIN_PASSWORD);
      await navigate(page, 'Entity Risk Policy');

      // Added with the Add rule form, then deactivated: an edit must keep that status.
      const add = page.getByRole('region', { name: 'Add rule', exact: true });
      await add.getByRole('textbox', { name: 'Rule name' }).fill('Finance at high risk');
      await add.getByRole('radio', { name: 'These groups', exact: true }).check();
      await add.getByRole('checkbox', { name: 'Finance', exact: true }).check();
      await add.getByRole('button', { name: 'Add rule', exact: true }).click();
      const row = page.getByRole('row', { name: /Finance at high risk/ });
      await row.waitFor();
      await row.getByRole('button', { name: 'Deactivate', exact: true }).click();
      await row.getByRole('button', { name: 'Activate', exact: true }).waitFor();
      const before = await ruleNamed(baseUrl, 'Finance at high risk');
      assert.equal(before.priority, 2);
      assert.equal(before.status, 'INACTIVE');
      const ruleCount = (await rules(baseUrl)).length;

      // The Catch-all rule has no Edit: only its action may change (see catch_all.test.mjs).
      assert.equal(await page.getByRole('row', { name: /Catch-all rule/ }).getByRole('link', { name: 'Edit' }).count(), 0);

      // Edit opens the rule form, filled in with the rule; Add rule steps aside.
      await row.getByRole('link', { name: 'Edit', exact: true }).click();
      const form = page.getByRole('region', { name: 'Edit rule', exact: true });
      await form.waitFor();
      const name = form.getByRole('textbox', { name: 'Rule name' });
      const level = form.getByRole('combobox', { name: 'AND Entity risk level is' });
      const save = form.getByRole('button', { name: 'Save rule', exact: true });
      assert.equal(await name.inputValue(), 'Finance at high risk');
      assert.ok(await form.getByRole('radio', { name: 'These groups', exact: true }).isChecked());
      assert.ok(await form.getByRole('checkbox', { name: 'Finance', exact: true }).isChecked());
      assert.ok(!(await form.getByRole('checkbox', { name: 'Sales', exact: true }).isChecked()));
      assert.ok(await form.getByRole('radio', { name: 'Any detection', exact: true }).isChecked());
      assert.equal(await level.inputValue(), 'HIGH');
      assert.ok(await form.getByRole('radio', { name: 'Logout and revoke tokens', exact: true }).isChecked());
      assert.ok(await form.getByRole('radio', { name: 'All logout apps', exact: true }).isChecked());
      assert.equal(await add.count(), 0, 'Add rule shown while a rule is edited');
      await eventually(async () =>
        assert.equal(await page.evaluate(() => document.activeElement?.id), 'edit-rule-name'),
      );
      await screenshot(page, 'rule-edit-open');

      // Another rule's Edit shows that rule, not what was typed for this one.
      await name.fill('Typed, then left');
      await page.getByRole('row', { name: /Ana at high risk/ }).getByRole('link', { name: 'Edit', exact: true }).click();
      await eventually(async () => assert.equal(await name.inputValue(), 'Ana at high risk'));
      assert.ok(await form.getByRole('radio', { name: 'No further action', exact: true }).isChecked());
      assert.ok(await form.getByRole('radio', { name: 'Any group', exact: true }).isChecked());

      // Cancel closes the form and changes nothing.
      await row.getByRole('link', { name: 'Edit', exact: true }).click();
      await eventually(async () => assert.equal(await name.inputValue(), 'Finance at high risk'));
      await name.fill('Changed, then cancelled');
      await level.selectOption('LOW');
      await form.getByRole('link', { name: 'Cancel', exact: true }).click();
      await form.waitFor({ state: 'detached' });
      await add.waitFor();
      assert.deepEqual(await ruleById(baseUrl, before.id), before);
      assert.equal(await page.getByRole('row', { name: /Changed, then cancelled/ }).count(), 0);

      // Reopened, it shows the rule again, not what was typed before Cancel.
      await row.getByRole('link', { name: 'Edit', exact: true }).click();
      await form.waitFor();
      assert.equal(await name.inputValue(), 'Finance at high risk');
      assert.equal(await level.inputValue(), 'HIGH');

      // A refused save: the form says why, keeps what was typed, and nothing changes.
      await name.fill('Refused edit');
      await form.getByRole('radio', { name: 'Only these', exact: true }).check();
      await save.click();
      await form.getByRole('alert').getByText(/Tick at least one logout app for .Only these./).waitFor();
      await form.locator('#edit-rule-apps-error').waitFor();
      assert.equal(await name.inputValue(), 'Refused edit');
      assert.ok(await form.getByRole('radio', { name: 'Only these', exact: true }).isChecked());
      assert.deepEqual(await ruleById(baseUrl, before.id), before);
      assert.equal(await page.getByRole('row', { name: /Refused edit/ }).count(), 0);
      assert.equal((await updates(baseUrl)).length, 0, 'Cancel or a refused save was logged as an update');
      await screenshot(page, 'rule-edit-refused');

      // Corrected: new name, risk level and action. The form closes; the list shows it.
      await name.fill('Finance: open a ticket');
      await level.selectOption('MEDIUM');
      await form.getByRole('radio', { name: 'Run a delegated workflow', exact: true }).check();
      await form.getByRole('combobox', { name: 'Workflow to run' }).selectOption(String(workflow.id));
      await save.click();
      await form.waitFor({ state: 'detached' });
      const edited = page.getByRole('row', { name: /Finance: open a ticket/ });
      await edited.waitFor();
      assert.equal(await page.getByRole('row', { name: /Finance at high risk/ }).count(), 0);
      let text = await edited.textContent();
      assert.match(text, /member of Finance/);
      assert.match(text, /risk level is Medium/);
      assert.match(text, new RegExp(`Run delegated workflow Open a ticket \\(id ${workflow.id}\\)`));
      assert.match(text, /Inactive/);
      assert.equal(new URL(page.url()).search, '', 'the address still opens the form');
      await add.waitFor();

      // The API: the same rule (id, priority, status), with the new fields; no rule added.
      let after = await ruleById(baseUrl, before.id);
      assert.equal(after.priority, before.priority);
      assert.equal(after.status, 'INACTIVE');
      assert.equal(after.name, 'Finance: open a ticket');
      assert.equal(after.conditions.entityRisk.level, 'MEDIUM');
      assert.deepEqual(after.conditions.people.groups, { include: [finance.id], exclude: [] });
      assert.deepEqual(after.actions.entityRisk.actions, [{ action: 'RUN_WORKFLOW', workflow: { id: workflow.id } }]);
      assert.equal((await rules(baseUrl)).length, ruleCount);
      assert.equal((await ruleById(baseUrl, first.id)).priority, 1);

      // Edited again, the form shows the saved values; now a logout of CRM only.
      await edited.getByRole('link', { name: 'Edit', exact: true }).click();
      await form.waitFor();
      assert.equal(await name.inputValue(), 'Finance: open a ticket');
      assert.equal(await level.inputValue(), 'MEDIUM');
      assert.ok(await form.getByRole('radio', { name: 'Run a delegated workflow', exact: true }).isChecked());
      assert.equal(await form.getByRole('combobox', { name: 'Workflow to run' }).inputValue(), String(workflow.id));
      assert.equal(await form.getByRole('alert').count(), 0, 'the last error greets a new edit');
      await form.getByRole('radio', { name: 'Logout and revoke tokens', exact: true }).check();
      await form.getByRole('radio', { name: 'Only these', exact: true }).check();
      await form.getByRole('checkbox', { name: 'CRM', exact: true }).check();
      await save.click();
      await form.waitFor({ state: 'detached' });
      await eventually(async () => {
        text = await edited.textContent();
        assert.match(text, /Logout and revoke tokens \(CRM\)/);
      });
      after = await ruleById(baseUrl, before.id);
      assert.equal(after.priority, before.priority);
      assert.equal(after.status, 'INACTIVE');
      assert.deepEqual(after.actions.entityRisk.actions, [
        { action: 'TERMINATE_ALL_SESSIONS', universalLogout: { apps: [crm.id] } },
      ]);

      // Each save is one policy.rule.update, by the admin, naming the rule.
      const events = await updates(baseUrl);
      assert.equal(events.length, 2);
      for (const e of events) {
        assert.equal(e.actor.alternateId, ADMIN_EMAIL);
        assert.equal(e.outcome.result, 'SUCCESS');
        assert.ok(e.target.some((t) => t.id === before.id && t.type === 'PolicyRule'), JSON.stringify(e.target));
      }
      // Nothing went wrong in the page (the refused save's 400 aside): forms closed and
      // switched while their data changed, without touching what they had left.
      const errors = page.consoleErrors.filter((e) => !/status of 400 \(Bad Request\)/.test(e));
      assert.deepEqual(errors, []);
    },
    { env: ENV },
  );
});

test('without JavaScript a rule is edited too; read-only admins get no Edit', async () => {
  await withRiskline(
    shared.browser,
    'rule-edit-plain',
    async ({ baseUrl, newPage }) => {
      const { ana, first } = await seed(baseUrl);
      const admin = await newPage();
      await signIn(admin, baseUrl, ADMIN_EMAIL, ADMIN_PASSWORD);
      const plain = await newPage({ javaScriptEnabled: false });
      await plain.context().addCookies(await admin.context().cookies());
      await plain.goto(POLICY_PAGE);
      const row = plain.getByRole('row', { name: /Ana at high risk/ });
      await row.getByRole('link', { name: 'Edit', exact: true }).click();
      await plain.waitForURL((url) => url.searchParams.get('edit') === first.id);
      const form = plain.getByRole('region', { name: 'Edit rule', exact: true });
      const name = form.getByRole('textbox', { name: 'Rule name' });
      assert.equal(await name.inputValue(), 'Ana at high risk');
      assert.ok(await form.getByRole('radio', { name: 'No further action', exact: true }).isChecked());
      await form.getByText('This rule also applies only to 1 user, set through the API; saving here keeps that.').waitFor();

      // Refused: the form comes back with the error, and nothing changed.
      await form.getByRole('radio', { name: 'Not these groups', exact: true }).check();
      await form.getByRole('button', { name: 'Save rule', exact: true }).click();
      await form.getByRole('alert').getByText(/Tick at least one group for .Not these groups./).waitFor();
      const before = await ruleById(baseUrl, first.id);
      assert.equal(before.name, 'Ana at high risk');
      assert.deepEqual(before.conditions.people.groups, { include: [], exclude: [] });

      // Saved: back on the list, which shows the new values.
      await name.fill('Sales at low risk');
      await form.getByRole('radio', { name: 'These groups', exact: true }).check();
      await form.getByRole('checkbox', { name: 'Sales', exact: true }).check();
      await form.getByRole('combobox', { name: 'AND Entity risk level is' }).selectOption('LOW');
      await form.getByRole('button', { name: 'Save rule', exact: true }).click();
      await plain.waitForURL((url) => url.pathname === POLICY_PAGE && url.search === '');
      const edited = plain.getByRole('row', { name: /Sales at low risk/ });
      await edited.waitFor();
      assert.match(await edited.textContent(), /member of Sales; any detection; risk level is Low/);
      assert.equal(await plain.getByRole('region', { name: 'Edit rule' }).count(), 0);
      const after = await ruleById(baseUrl, first.id);
      assert.equal(after.priority, 1);
      assert.equal(after.status, 'ACTIVE');
      assert.equal(after.name, 'Sales at low risk');
      assert.deepEqual(after.conditions.people.users, { include: [ana.id], exclude: [] });
      assert.equal((await updates(baseUrl)).length, 1);

      // A read-only admin sees the rules but no Edit, and no form at the Edit address.
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
      await analyst.getByRole('row', { name: /Sales at low risk/ }).waitFor();
      assert.equal(await analyst.getByRole('link', { name: 'Edit', exact: true }).count(), 0);
      await goto(analyst, `${POLICY_PAGE}?edit=${first.id}`);
      await analyst.getByText('Read-only admins cannot change rules').waitFor();
      assert.equal(await analyst.getByRole('textbox', { name: 'Rule name' }).count(), 0);
      assert.equal(await analyst.getByRole('button', { name: 'Save rule' }).count(), 0);
    },
    { env: ENV },
  );
});
