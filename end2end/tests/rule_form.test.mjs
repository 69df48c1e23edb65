// Browser test: the Entity Risk Policy form refuses a choice with nothing ticked ("These
// groups", "Not these groups", detection types, "Only these" logout apps) with an error in
// the form, keeps what was typed, and saves nothing; ticked, the same rule saves. Also the
// Universal Logout page's Test: a failure shows as an error naming the app.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ADMIN_EMAIL,
  ADMIN_PASSWORD,
  apiClient,
  eventually,
  navigate,
  screenshot,
  signIn,
  useBrowser,
  withRiskline,
} from './harness.mjs';

const TOKEN = '00e2e-rule-form-token-0123456789abcdef';
const ENV = { RISKLINE_BOOTSTRAP_API_TOKEN: TOKEN };

const shared = useBrowser();

const api = apiClient(TOKEN);

test('the rule form refuses a choice with nothing ticked, keeping what was typed', async () => {
  await withRiskline(
    shared.browser,
    'rule-form',
    async ({ baseUrl, newPage }) => {
      await api(baseUrl, 'POST', '/api/v1/groups', { profile: { name: 'Finance', description: 'Money' } });
      const page = await newPage();
      await signIn(page, baseUrl, ADMIN_EMAIL, ADMIN_PASSWORD);

      // A logout app that cannot be reached: its Test is a failure, shown as one.
      await navigate(page, 'Universal Logout');
      await page.getByLabel('App name').fill('CRM');
      await page.getByLabel('Global Token Revocation endpoint').fill('http://127.0.0.1:9/gtr');
      await page.getByLabel('Client id').fill('crm');
      await page.getByRole('button', { name: 'Add logout app', exact: true }).click();
      const card = page.locator('section.card', { has: page.getByRole('heading', { name: /^CRM/ }) });
      await card.waitFor();
      await card.getByRole('button', { name: 'Test', exact: true }).click();
      const failed = card.getByRole('alert');
      await failed.getByText(/^Test of CRM failed: /).waitFor();
      assert.equal(await card.locator('.banner-success').count(), 0, 'a failed test shown as a success');
      await screenshot(page, 'logout-app-test-failed');

      await navigate(page, 'Entity Risk Policy');
      await page.getByRole('row', { name: /Catch-all rule/ }).waitFor();
      const form = page.getByRole('region', { name: 'Add rule', exact: true });
      const name = form.getByRole('textbox', { name: 'Rule name' });
      const submit = () => form.getByRole('button', { name: 'Add rule', exact: true }).click();
      const ruleRows = () => page.getByRole('row', { name: /Nothing ticked/ }).count();

      const cases = [
        { radio: 'These groups', error: /Tick at least one group for .These groups./ },
        { radio: 'Not these groups', error: /Tick at least one group for .Not these groups./ },
        { radio: 'Only these detection types', error: 'Tick at least one detection type to include, or choose Any detection.' },
        { radio: 'Any detection type except these', error: 'Tick at least one detection type to exclude, or choose Any detection.' },
        { radio: 'Only these', error: /Tick at least one logout app for .Only these./ },
      ];
      for (const c of cases) {
        // Start from the defaults each time.
        await form.getByRole('radio', { name: 'Any group', exact: true }).check();
        await form.getByRole('radio', { name: 'Any detection', exact: true }).check();
        await form.getByRole('radio', { name: 'All logout apps', exact: true }).check();
        await form.getByRole('radio', { name: 'Logout and revoke tokens', exact: true }).check();
        await name.fill('Nothing ticked');
        await form.getByRole('radio', { name: c.radio, exact: true }).check();
        await submit();
        await form.getByRole('alert').getByText(c.error).waitFor();
        // Kept: the name and the choice, to be corrected; and nothing saved.
        assert.equal(await name.inputValue(), 'Nothing ticked');
        assert.ok(await form.getByRole('radio', { name: c.radio, exact: true }).isChecked());
        assert.equal(await ruleRows(), 0, `saved with "${c.radio}" and nothing ticked`);
      }
      await screenshot(page, 'rule-form-nothing-ticked');

      // Every problem at once, each under its own choice.
      await form.getByRole('radio', { name: 'These groups', exact: true }).check();
      await form.getByRole('radio', { name: 'Only these detection types', exact: true }).check();
      await form.getByRole('radio', { name: 'Only these', exact: true }).check();
      await submit();
      await form.locator('#rule-groups-error').waitFor();
      await form.locator('#rule-detections-error').waitFor();
      await form.locator('#rule-apps-error').waitFor();
      assert.equal(await ruleRows(), 0);

      // "Only these" apps matter only for a logout.
      await form.getByRole('radio', { name: 'Any group', exact: true }).check();
      await form.getByRole('radio', { name: 'Any detection', exact: true }).check();
      await form.getByRole('radio', { name: 'No further action', exact: true }).check();
      await name.fill('Nothing ticked, no action');
      await submit();
      await page.getByRole('row', { name: /Nothing ticked, no action/ }).waitFor();

      // Ticked, the rule saves and says what it does.
      await eventually(async () => assert.equal(await name.inputValue(), ''));
      await name.fill('Finance logout');
      await form.getByRole('radio', { name: 'These groups', exact: true }).check();
      await form.getByRole('checkbox', { name: 'Finance', exact: true }).check();
      await form.getByRole('radio', { name: 'Logout and revoke tokens', exact: true }).check();
      await form.getByRole('radio', { name: 'Only these', exact: true }).check();
      await form.getByRole('checkbox', { name: 'CRM', exact: true }).check();
      await submit();
      const saved = page.getByRole('row', { name: /Finance logout/ });
      await saved.waitFor();
      const text = await saved.textContent();
      assert.match(text, /Finance/);
      assert.match(text, /Logout and revoke tokens \(CRM\)/);
      assert.equal(await form.locator('.field-error').count(), 0);
    },
    { env: ENV },
  );
});
