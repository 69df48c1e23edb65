// Browser test: the People list shows 200 people a page and says so: how many there are,
// that a search narrows the list, and a Next page that shows the rest.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ADMIN_EMAIL, ADMIN_PASSWORD, expectHeading, navigate, signIn, useBrowser, withRiskline } from './harness.mjs';

const TOKEN = '00e2e-people-list-token-0123456789abcdef';
const ENV = { RISKLINE_BOOTSTRAP_API_TOKEN: TOKEN };

const shared = useBrowser();

async function addUser(baseUrl, i) {
  const login = `person${String(i).padStart(3, '0')}@example.com`;
  const res = await fetch(`${baseUrl}/api/v1/users`, {
    method: 'POST',
    headers: { authorization: `SSWS ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ profile: { login, email: login, firstName: 'Person', lastName: String(i) } }),
  });
  assert.ok(res.ok, `${login}: ${res.status} ${await res.text()}`);
}

test('a People list longer than a page says how many there are and pages on', async () => {
  await withRiskline(
    shared.browser,
    'people-list',
    async ({ baseUrl, newPage }) => {
      for (let i = 0; i < 205; i += 15) {
        await Promise.all(Array.from({ length: Math.min(15, 205 - i) }, (_, k) => addUser(baseUrl, i + k)));
      }
      const page = await newPage();
      await signIn(page, baseUrl, ADMIN_EMAIL, ADMIN_PASSWORD);
      await navigate(page, 'People');
      const note = page.getByTestId('people-count');
      await note.waitFor();
      assert.equal(
        (await note.textContent()).trim(),
        'Showing the first 200 of 205 people. Search to narrow the list, or see the next page.',
      );
      const rows = page.locator('table tbody tr');
      assert.equal(await rows.count(), 200);

      await page.getByRole('link', { name: 'Next page', exact: true }).click();
      await page.waitForURL(/after=/);
      await expectHeading(page, 'People');
      await page.getByText('Showing people 201 to 205 of 205 people.').waitFor();
      assert.equal(await rows.count(), 5);
      await page.getByRole('row', { name: /Person 204/ }).waitFor();
      assert.equal(await page.getByRole('link', { name: 'Next page', exact: true }).count(), 0);

      await page.getByRole('link', { name: 'First page', exact: true }).click();
      await page.getByText(/^Showing the first 200 of 205 people/).waitFor();

      // A search that fits on one page needs no note.
      await page.getByRole('searchbox', { name: 'Search people' }).fill('person20');
      await page.getByRole('button', { name: 'Search', exact: true }).click();
      await page.waitForURL(/q=person20/);
      await page.getByRole('row', { name: /Person 204/ }).waitFor();
      assert.equal(await rows.count(), 5);
      assert.equal(await note.count(), 0);
    },
    { env: ENV },
  );
});
