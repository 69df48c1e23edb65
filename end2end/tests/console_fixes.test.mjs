// Browser test: small console fixes. A stream's Actions menu closes after Deactivate; a
// System Log row expands where it is clicked, and only its own link filters by event type;
// the Administrators table offers no Disable or Remove on the signed-in admin's own row.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ADMIN_EMAIL,
  ADMIN_PASSWORD,
  eventually,
  expectHeading,
  navigate,
  signIn,
  useBrowser,
  withRiskline,
} from './harness.mjs';

const shared = useBrowser();

test('menus close after their action, log rows expand in place, own admin row is safe', async () => {
  await withRiskline(shared.browser, 'console-fixes', async ({ baseUrl, transmitter, newPage }) => {
    const page = await newPage();
    await signIn(page, baseUrl, ADMIN_EMAIL, ADMIN_PASSWORD);

    await navigate(page, 'Device Integrations');
    await page.getByRole('link', { name: 'Add stream', exact: true }).click();
    await expectHeading(page, 'Add stream');
    await page.getByRole('textbox', { name: 'Integration name' }).fill('Acme EDR');
    await page.getByRole('textbox', { name: 'Well-known URL' }).fill(transmitter.wellKnownUrl);
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await expectHeading(page, 'Device Integrations');
    const row = page.getByRole('row', { name: /Acme EDR/ });
    const menu = row.locator('details.menu');
    await menu.locator(':scope > summary').click();
    await row.getByRole('button', { name: 'Deactivate', exact: true }).click();
    await row.getByText('Inactive').waitFor();
    await eventually(async () => assert.equal(await menu.evaluate((d) => d.open), false, 'the menu stayed open'));

    // System Log: a click on the row's event type expands it and stays on the page.
    await navigate(page, 'System Log');
    const item = page.locator('.log-item').first();
    await item.waitFor();
    const before = page.url();
    await item.locator('summary .log-type').click();
    await eventually(async () => assert.ok(await item.locator('details').evaluate((d) => d.open)));
    assert.equal(page.url(), before);
    const filter = item.getByRole('link', { name: /^Show only .* events$/ });
    await filter.waitFor();
    await filter.click();
    await page.waitForURL(/[?&]type=/);

    // Administrators: no Disable or Remove on one's own row.
    await navigate(page, 'Administrators');
    const me = page.getByRole('row', { name: new RegExp(ADMIN_EMAIL) });
    await me.getByText('You (signed in)').waitFor();
    assert.equal(await me.getByRole('button', { name: 'Disable', exact: true }).count(), 0);
    assert.equal(await me.locator('summary', { hasText: 'Remove' }).count(), 0);
    await page.getByText('At least 12 characters.').waitFor();
  });
});
