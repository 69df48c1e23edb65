// Browser tests for the Device Integrations (shared signals streams), Administrators and API
// tokens pages. Each test starts its own Riskline and fake SSF transmitter.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ADMIN_EMAIL,
  ADMIN_PASSWORD,
  eventually,
  expectHeading,
  mainNav,
  navigate,
  screenshot,
  signIn,
  useBrowser,
  waitForHydration,
  withRiskline,
} from './harness.mjs';

const STREAMS_PATH = '/admin/security/device-integrations';
const ANALYST_EMAIL = 'analyst@example.com';
const ANALYST_PASSWORD = 'Analyst-e2e-Passw0rd-2024!';

const shared = useBrowser();

const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The table row of a stream: its accessible name includes the integration name. */
function streamRow(page, name) {
  return page.getByRole('row', { name: new RegExp(escapeRe(name)) });
}

/** Opens the <details> whose <summary> reads `label` (if it is not open yet) and returns it. */
async function openDisclosure(scope, label) {
  const summary = scope
    .locator('summary')
    .filter({ hasText: new RegExp(`^\\s*${escapeRe(label)}\\s*$`) })
    .first();
  const details = summary.locator('xpath=..');
  if (!(await details.evaluate((d) => d.open))) await summary.click();
  await eventually(async () => assert.ok(await details.evaluate((d) => d.open), `${label} did not open`));
  return details;
}

/** The Status cell reads `status`; a decorative CSS bullet (e.g. "● Active") is tolerated. */
async function expectStatus(row, status) {
  await row.getByRole('cell', { name: new RegExp(`^[^\\p{L}]*${status}$`, 'u') }).waitFor();
}

async function openDeviceIntegrations(page) {
  await navigate(page, 'Device Integrations');
  await page.getByRole('tab', { name: 'Receive shared signals', selected: true }).waitFor();
}

async function expectNoStreams(page) {
  await page.getByRole('heading', { name: 'No streams yet' }).waitFor();
  assert.equal(await page.getByRole('row', { name: /Acme/ }).count(), 0, 'no stream rows expected');
}

async function addStreamByWellKnownUrl(page, name, wellKnownUrl, shot) {
  await page.getByRole('link', { name: 'Add stream', exact: true }).click();
  await expectHeading(page, 'Add stream');
  await page.getByRole('textbox', { name: 'Integration name' }).fill(name);
  await page.getByRole('radio', { name: 'Well-known URL' }).check();
  await page.getByRole('textbox', { name: 'Well-known URL' }).fill(wellKnownUrl);
  if (shot) await screenshot(page, shot);
  await page.getByRole('button', { name: 'Save', exact: true }).click();
}

async function addStreamByIssuer(page, name, issuer, jwksUrl) {
  await page.getByRole('link', { name: 'Add stream', exact: true }).click();
  await expectHeading(page, 'Add stream');
  await page.getByRole('textbox', { name: 'Integration name' }).fill(name);
  await page.getByRole('radio', { name: 'Issuer and JWKS URL' }).check();
  await page.getByRole('textbox', { name: 'Issuer', exact: true }).fill(issuer);
  await page.getByRole('textbox', { name: 'JWKS URL' }).fill(jwksUrl);
  await page.getByRole('button', { name: 'Save', exact: true }).click();
}

test('super admin adds, deactivates, activates, edits and removes a stream', async () => {
  await withRiskline(shared.browser, 'streams-lifecycle', async ({ baseUrl, transmitter, newPage }) => {
    const page = await newPage();
    await page.goto(`${baseUrl}/login`);
    await expectHeading(page, 'Sign in to Riskline');
    await screenshot(page, 'login');

    await signIn(page, baseUrl, ADMIN_EMAIL, ADMIN_PASSWORD);
    for (const link of ['Dashboard', 'Device Integrations', 'API', 'Administrators']) {
      await mainNav(page).getByRole('link', { name: link, exact: true }).waitFor();
    }
    // The contract puts "Sign out" in the Main nav; the console renders it just below the nav.
    await page.getByRole('button', { name: 'Sign out', exact: true }).waitFor();
    await screenshot(page, 'dashboard');

    await openDeviceIntegrations(page);
    assert.equal(new URL(page.url()).pathname, STREAMS_PATH);
    await expectNoStreams(page);
    await screenshot(page, 'device-integrations-empty');

    await addStreamByWellKnownUrl(page, 'Acme EDR', transmitter.wellKnownUrl, 'add-stream');
    await expectHeading(page, 'Device Integrations');
    for (const column of ['Integration name', 'Set up with', 'Issuer', 'Status', 'Created', 'Actions']) {
      await page.getByRole('columnheader', { name: column, exact: true }).waitFor();
    }
    const row = streamRow(page, 'Acme EDR');
    await expectStatus(row, 'Active');
    await row.getByRole('cell', { name: 'Well-known URL', exact: true }).waitFor();
    await row.getByRole('cell', { name: transmitter.issuer, exact: true }).waitFor();
    await screenshot(page, 'device-integrations');

    // Deactivate, then activate again.
    let actions = await openDisclosure(row, 'Actions');
    await actions.getByRole('button', { name: 'Deactivate', exact: true }).click();
    await expectStatus(row, 'Inactive');
    await waitForHydration(page);

    actions = await openDisclosure(row, 'Actions');
    await actions.getByRole('button', { name: 'Activate', exact: true }).click();
    await expectStatus(row, 'Active');
    await waitForHydration(page);

    // Edit the name.
    actions = await openDisclosure(row, 'Actions');
    await actions.getByRole('link', { name: 'Edit', exact: true }).click();
    await expectHeading(page, 'Edit stream');
    assert.match(new URL(page.url()).pathname, /^\/admin\/security\/device-integrations\/streams\/[^/]+\/edit$/);
    const nameBox = page.getByRole('textbox', { name: 'Integration name' });
    assert.equal(await nameBox.inputValue(), 'Acme EDR');
    assert.ok(await page.getByRole('radio', { name: 'Well-known URL' }).isChecked());
    assert.equal(await page.getByRole('textbox', { name: 'Well-known URL' }).inputValue(), transmitter.wellKnownUrl);
    await screenshot(page, 'edit-stream');
    await nameBox.fill('Acme EDR (prod)');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await expectHeading(page, 'Device Integrations');
    const renamed = streamRow(page, 'Acme EDR (prod)');
    await expectStatus(renamed, 'Active');
    assert.equal(await streamRow(page, 'Acme EDR').count(), 1, 'exactly one stream row expected');

    // Remove it (the confirmation is a nested disclosure).
    actions = await openDisclosure(renamed, 'Actions');
    const remove = await openDisclosure(actions, 'Remove');
    await remove.getByRole('button', { name: 'Remove stream', exact: true }).click();
    await expectNoStreams(page);
  });
});

test('adding a stream whose well-known URL answers 404 shows the error next to the field', async () => {
  await withRiskline(shared.browser, 'streams-404', async ({ baseUrl, transmitter, newPage }) => {
    const page = await newPage();
    await signIn(page, baseUrl, ADMIN_EMAIL, ADMIN_PASSWORD);
    await openDeviceIntegrations(page);

    const badUrl = `${transmitter.url}/nope/.well-known/ssf-configuration`;
    await addStreamByWellKnownUrl(page, 'Broken EDR', badUrl);

    // Still on the form, with the entered URL kept and an error mentioning 404 beside the field.
    await expectHeading(page, 'Add stream');
    const field = page.getByRole('textbox', { name: 'Well-known URL' });
    const error = page.getByText(/404/).first();
    await error.waitFor();
    assert.equal(await field.inputValue(), badUrl);
    const besideField = await field.evaluate((input) => {
      let node = input.parentElement;
      for (let depth = 0; node && node.tagName !== 'FORM' && depth < 4; depth += 1) {
        if (/404/.test(node.textContent ?? '')) return true;
        node = node.parentElement;
      }
      return false;
    });
    assert.ok(besideField, 'the 404 error should be shown inside the Well-known URL field group');
    await screenshot(page, 'add-stream-error');

    // Nothing was added.
    await navigate(page, 'Device Integrations');
    await expectNoStreams(page);
    assert.equal(await streamRow(page, 'Broken EDR').count(), 0);
  });
});

test('adding a stream by issuer and JWKS URL works without JavaScript', async () => {
  await withRiskline(shared.browser, 'streams-nojs', async ({ baseUrl, transmitter, newPage }) => {
    const page = await newPage({ javaScriptEnabled: false });
    await signIn(page, baseUrl, ADMIN_EMAIL, ADMIN_PASSWORD);
    await openDeviceIntegrations(page);
    await expectNoStreams(page);

    await addStreamByIssuer(page, 'Acme EDR', transmitter.issuer, transmitter.jwksUrl);
    await expectHeading(page, 'Device Integrations');
    const row = streamRow(page, 'Acme EDR');
    await expectStatus(row, 'Active');
    await row.getByRole('cell', { name: 'Issuer and JWKS URL', exact: true }).waitFor();
    await row.getByRole('cell', { name: transmitter.issuer, exact: true }).waitFor();
    await screenshot(page, 'device-integrations-nojs');
  });
});

test('a read-only admin sees streams but cannot change them', async () => {
  await withRiskline(shared.browser, 'streams-readonly', async ({ baseUrl, transmitter, newPage }) => {
    const page = await newPage();
    await signIn(page, baseUrl, ADMIN_EMAIL, ADMIN_PASSWORD);

    // The super admin adds a stream and a read-only administrator.
    await openDeviceIntegrations(page);
    await addStreamByWellKnownUrl(page, 'Acme EDR', transmitter.wellKnownUrl);
    await expectHeading(page, 'Device Integrations');
    await expectStatus(streamRow(page, 'Acme EDR'), 'Active');

    await navigate(page, 'Administrators');
    await page.getByRole('textbox', { name: 'Email', exact: true }).fill(ANALYST_EMAIL);
    await page.getByRole('textbox', { name: 'Display name', exact: true }).fill('Ana Lyst');
    await page.getByLabel('Password', { exact: true }).fill(ANALYST_PASSWORD);
    await page.getByRole('combobox', { name: 'Role' }).selectOption({ label: 'Read-only admin' });
    await page.getByRole('button', { name: 'Add administrator', exact: true }).click();
    await page.getByRole('row', { name: new RegExp(escapeRe(ANALYST_EMAIL)) }).waitFor();
    // The form empties once the administrator is added: no password left on the page.
    await eventually(async () => {
      assert.equal(await page.getByLabel('Password', { exact: true }).inputValue(), '');
      assert.equal(await page.getByRole('textbox', { name: 'Email', exact: true }).inputValue(), '');
    });
    await screenshot(page, 'administrators');

    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.waitForURL((url) => url.pathname.startsWith('/login'));

    // A wrong password is refused with an alert.
    await page.getByLabel('Email', { exact: true }).fill(ANALYST_EMAIL);
    await page.getByLabel('Password', { exact: true }).fill('not-the-password');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('alert').first().waitFor();
    assert.equal(new URL(page.url()).pathname, '/login');

    await signIn(page, baseUrl, ANALYST_EMAIL, ANALYST_PASSWORD);
    await openDeviceIntegrations(page);
    const row = streamRow(page, 'Acme EDR');
    await expectStatus(row, 'Active');
    assert.equal(await page.getByRole('link', { name: 'Add stream' }).count(), 0, 'no "Add stream" link');
    assert.equal(await page.locator('summary').filter({ hasText: 'Actions' }).count(), 0, 'no "Actions"');
    assert.equal(await page.getByRole('button', { name: /^(Deactivate|Activate|Remove stream)$/ }).count(), 0);
    await screenshot(page, 'device-integrations-readonly');
  });
});

test('an API token works until it is revoked', async () => {
  await withRiskline(shared.browser, 'api-tokens', async ({ baseUrl, newPage }) => {
    const page = await newPage();
    await signIn(page, baseUrl, ADMIN_EMAIL, ADMIN_PASSWORD);
    await navigate(page, 'API', 'API tokens');
    assert.equal(new URL(page.url()).pathname, '/admin/security/api/tokens');

    await page.getByRole('textbox', { name: 'Token name' }).fill('terraform');
    await page.getByRole('combobox', { name: 'Permissions' }).selectOption({ label: 'Super admin' });
    await page.getByRole('button', { name: 'Create token', exact: true }).click();

    const shown = page.getByTestId('new-token');
    await shown.waitFor();
    const token = (
      (await shown.evaluate((el) => ('value' in el && el.value) || el.textContent)) ?? ''
    ).trim();
    assert.ok(token.length >= 20, `token looks too short: ${JSON.stringify(token)}`);

    for (const column of ['Name', 'Permissions', 'Created', 'Last used', 'Created by', 'Actions']) {
      await page.getByRole('columnheader', { name: column, exact: true }).waitFor();
    }
    const row = page.getByRole('row', { name: /terraform/ });
    await row.waitFor();
    await screenshot(page, 'api-tokens');

    const call = () =>
      fetch(`${baseUrl}/api/v1/security-events-providers`, {
        headers: { Authorization: `SSWS ${token}`, Accept: 'application/json' },
      });
    const ok = await call();
    assert.equal(ok.status, 200);
    assert.ok(Array.isArray(await ok.json()), 'expected a JSON array');

    // Revoking asks first.
    await row.locator('summary', { hasText: 'Revoke' }).click();
    await row.getByRole('button', { name: 'Revoke token', exact: true }).click();
    await row.waitFor({ state: 'detached' });

    await eventually(async () => {
      const res = await call();
      assert.equal(res.status, 401);
      const body = await res.json();
      assert.equal(body.errorCode, 'E0000011');
    });
  });
});
