// Browser test: high-impact one-click actions ask first (Elevate risk, Reset risk, Clear
// sessions, Mark as false positive on the person page; Delete on a policy rule; Revoke on an
// API token). Nothing happens until the confirmation's own button is pressed; afterwards the
// confirmation closes, and Clear sessions says what it started.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ADMIN_EMAIL,
  ADMIN_PASSWORD,
  apiClient,
  eventually,
  waitForHydration,
  expectHeading,
  navigate,
  screenshot,
  signIn,
  useBrowser,
  withRiskline,
} from './harness.mjs';

const TOKEN = '00e2e-confirmations-token-0123456789abcdef';
const ENV = { RISKLINE_BOOTSTRAP_API_TOKEN: TOKEN };

const shared = useBrowser();

const api = apiClient(TOKEN);

/** The <details> whose summary reads `label`, inside `scope`. */
function confirmation(scope, label) {
  return scope.locator('details.confirm', { has: scope.page().locator(`summary:text-is("${label}")`) });
}

async function expectClosed(details) {
  await eventually(async () => assert.equal(await details.evaluate((d) => d.open), false, 'confirmation still open'));
}

test('person page: Elevate, Reset and Clear sessions ask first, then close and report', async () => {
  await withRiskline(
    shared.browser,
    'confirm-person',
    async ({ baseUrl, newPage }) => {
      await api(baseUrl, 'POST', '/api/v1/users', {
        profile: { login: 'ana@example.com', email: 'ana@example.com', firstName: 'Ana', lastName: 'Lee' },
      });
      const page = await newPage();
      await signIn(page, baseUrl, ADMIN_EMAIL, ADMIN_PASSWORD);
      await navigate(page, 'People');
      await page.getByRole('link', { name: 'Ana Lee' }).click();
      await expectHeading(page, 'Ana Lee');
      // The tab's title names the person.
      await eventually(async () => assert.match(await page.title(), /^Ana Lee\b/));
      const risk = page.getByRole('region', { name: 'Risk', exact: true });
      await risk.getByText('None', { exact: true }).first().waitFor();

      // Elevate: the confirmation says what may follow; nothing happens before it is confirmed.
      const elevate = confirmation(risk, 'Elevate risk to High');
      const elevateNow = risk.getByRole('button', { name: 'Elevate to High', exact: true });
      assert.equal(await elevateNow.isVisible(), false);
      await elevate.locator('summary').click();
      await elevateNow.waitFor();
      await elevate.getByText(/may be a Universal Logout/).waitFor();
      await screenshot(page, 'confirm-elevate');
      assert.equal(await risk.getByText('High', { exact: true }).count(), 0, 'raised before confirming');
      await elevateNow.click();
      await risk.getByText('High', { exact: true }).first().waitFor();
      await expectClosed(elevate);

      // Reset.
      const reset = confirmation(risk, 'Reset risk');
      await reset.locator('summary').click();
      await reset.getByText(/risk to None\?/).waitFor();
      await risk.getByText('High', { exact: true }).first().waitFor();
      await risk.getByRole('button', { name: 'Reset risk now', exact: true }).click();
      await risk.getByText('None', { exact: true }).first().waitFor();
      await expectClosed(reset);

      // Clear sessions: the panel closes and a status line says what started.
      const clear = confirmation(risk, 'Clear sessions');
      await clear.locator('summary').click();
      await risk.getByRole('button', { name: 'Clear sessions now', exact: true }).click();
      await risk.getByRole('status').getByText(/^Logout started/).waitFor();
      await expectClosed(clear);
      // The risk history has an entry for it, by the admin, with the logout's outcome.
      const entry = page.locator('ol.timeline li', { hasText: 'Sessions cleared: Universal Logout started' });
      await eventually(async () => {
        await page.reload();
        await waitForHydration(page);
        assert.equal(await entry.count(), 1);
      });
      await entry.getByText(ADMIN_EMAIL).waitFor();
      await entry.getByText('No active logout app was configured.').waitFor();
      await screenshot(page, 'confirm-clear-sessions');
    },
    { env: ENV },
  );
});

test('policy rule Delete and API token Revoke ask first', async () => {
  await withRiskline(
    shared.browser,
    'confirm-rule-token',
    async ({ baseUrl, newPage }) => {
      const page = await newPage();
      await signIn(page, baseUrl, ADMIN_EMAIL, ADMIN_PASSWORD);

      // A rule, then Delete: the row stays until "Delete rule" is pressed.
      await navigate(page, 'Entity Risk Policy');
      await page.getByRole('row', { name: /Catch-all rule/ }).waitFor();
      await page.getByRole('textbox', { name: 'Rule name' }).fill('Temporary rule');
      await page.getByRole('radio', { name: 'No further action' }).check();
      await page.getByRole('button', { name: 'Add rule', exact: true }).click();
      const rule = page.getByRole('row', { name: /Temporary rule/ });
      await rule.waitFor();
      const del = confirmation(rule, 'Delete');
      await del.locator('summary').click();
      await del.getByText(/This cannot be undone/).waitFor();
      await screenshot(page, 'confirm-rule-delete');
      assert.equal(await rule.count(), 1);
      await rule.getByRole('button', { name: 'Delete rule', exact: true }).click();
      await rule.waitFor({ state: 'detached' });
      // The Catch-all rule is left, with no confirmation left open on it.
      await page.getByRole('row', { name: /Catch-all rule/ }).waitFor();
      assert.equal(await page.locator('details.confirm[open]').count(), 0);

      // A token, then Revoke.
      await navigate(page, 'API', 'API tokens');
      await page.getByLabel('Token name').fill('ci-token');
      await page.getByRole('button', { name: 'Create token', exact: true }).click();
      const row = page.getByRole('row', { name: /ci-token/ });
      await row.waitFor();
      const revoke = confirmation(row, 'Revoke');
      await revoke.locator('summary').click();
      await revoke.getByText(/refused from now on/).waitFor();
      assert.equal(await row.count(), 1);
      await row.getByRole('button', { name: 'Revoke token', exact: true }).click();
      await row.waitFor({ state: 'detached' });
      assert.equal(await page.locator('details.confirm[open]').count(), 0);
    },
    { env: ENV },
  );
});

test('a detection is marked as a false positive only after confirming', async () => {
  await withRiskline(
    shared.browser,
    'confirm-feedback',
    async ({ baseUrl, newPage }) => {
      const user = await api(baseUrl, 'POST', '/api/v1/users', {
        profile: { login: 'bo@example.com', email: 'bo@example.com', firstName: 'Bo', lastName: 'Ray' },
      });
      const page = await newPage();
      await signIn(page, baseUrl, ADMIN_EMAIL, ADMIN_PASSWORD);
      await page.goto(`/admin/people/${user.id}`);
      await expectHeading(page, 'Bo Ray');
      // Opened directly (rendered by the server), the tab's title names the person too.
      assert.match(await page.title(), /^Bo Ray\b/);
      const risk = page.getByRole('region', { name: 'Risk', exact: true });
      // An admin-reported detection accepts feedback.
      await confirmation(risk, 'Elevate risk to High').locator('summary').click();
      await risk.getByRole('button', { name: 'Elevate to High', exact: true }).click();
      await risk.getByText('High', { exact: true }).first().waitFor();
      const entry = page.locator('.timeline li', { hasText: 'Admin reported user risk' });
      const fp = confirmation(entry, 'Mark as false positive');
      const withdraw = entry.getByRole('button', { name: 'Withdraw as false positive', exact: true });
      assert.equal(await withdraw.isVisible(), false);
      await fp.locator('summary').click();
      await fp.getByText(/can be labelled only once/).waitFor();
      await risk.getByText('High', { exact: true }).first().waitFor();
      await withdraw.click();
      await page.getByText('Marked as a false positive: report withdrawn').waitFor();
      await risk.getByText('None', { exact: true }).first().waitFor();
    },
    { env: ENV },
  );
});
