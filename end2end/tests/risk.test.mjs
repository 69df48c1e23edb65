// Browser test: a SET posted by a transmitter raises a person's risk to High, and the
// console shows it on the People list, the person's Risk section and the stream page.
import assert from 'node:assert/strict';
import { randomUUID, sign } from 'node:crypto';
import http from 'node:http';
import { after, test } from 'node:test';
import {
  ADMIN_EMAIL,
  ADMIN_PASSWORD,
  eventually,
  expectHeading,
  navigate,
  screenshot,
  signIn,
  useBrowser,
  withRiskline,
} from './harness.mjs';

const USER_RISK = 'https://schemas.okta.com/secevent/okta/event-type/user-risk-change';

const shared = useBrowser();

const b64url = (data) => Buffer.from(data).toString('base64url');

/** A SET signed RS256 with the transmitter's key. */
function signSet(transmitter, claims) {
  const header = { alg: 'RS256', kid: transmitter.kid, typ: 'secevent+jwt' };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  return `${input}.${b64url(sign('sha256', Buffer.from(input), transmitter.privateKey))}`;
}

test('a SET raises a person to High, visible on People, the Risk section and the stream page', async () => {
  await withRiskline(shared.browser, 'risk', async ({ baseUrl, transmitter, newPage }) => {
    const page = await newPage();
    await signIn(page, baseUrl, ADMIN_EMAIL, ADMIN_PASSWORD);

    // A stream and a person, through the console.
    await navigate(page, 'Device Integrations');
    await page.getByRole('link', { name: 'Add stream', exact: true }).click();
    await expectHeading(page, 'Add stream');
    await page.getByRole('textbox', { name: 'Integration name' }).fill('Acme EDR');
    await page.getByRole('radio', { name: 'Well-known URL' }).check();
    await page.getByRole('textbox', { name: 'Well-known URL' }).fill(transmitter.wellKnownUrl);
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await expectHeading(page, 'Device Integrations');
    await page.getByRole('row', { name: /Acme EDR/ }).waitFor();

    await navigate(page, 'People');
    await page.locator('summary', { hasText: 'Add person' }).click();
    await page.getByLabel('Email', { exact: true }).fill('ana@example.com');
    await page.getByLabel('First name').fill('Ana');
    await page.getByLabel('Last name').fill('Lee');
    await page.getByRole('button', { name: 'Add person', exact: true }).click();
    const row = page.getByRole('row', { name: /Ana Lee/ });
    await row.getByText('None', { exact: true }).waitFor();

    // The transmitter reports high risk.
    const claims = {
      iss: transmitter.issuer,
      aud: baseUrl,
      iat: Math.floor(Date.now() / 1000),
      jti: randomUUID(),
      events: {
        [USER_RISK]: {
          subject: { user: { format: 'email', email: 'ana@example.com' } },
          current_level: 'high',
          previous_level: 'low',
          event_timestamp: Math.floor(Date.now() / 1000),
          reason_admin: { en: 'Ransomware detected on laptop' },
        },
      },
    };
    const res = await fetch(`${baseUrl}/security/api/v1/security-events`, {
      method: 'POST',
      headers: { 'content-type': 'application/secevent+jwt' },
      body: signSet(transmitter, claims),
    });
    assert.equal(res.status, 202, await res.text());

    // People list.
    await page.reload();
    await expectHeading(page, 'People');
    await page.getByRole('row', { name: /Ana Lee/ }).getByText('High', { exact: true }).waitFor();
    await screenshot(page, 'people');

    // The person's Risk section and history.
    await page.getByRole('link', { name: 'Ana Lee' }).click();
    await expectHeading(page, 'Ana Lee');
    const risk = page.getByRole('region', { name: 'Risk', exact: true });
    await risk.getByText('High', { exact: true }).first().waitFor();
    await risk.getByText(/Ransomware detected on laptop/).waitFor();
    await page.getByText('Security events provider reported risk').waitFor();
    await page.getByText('Reason: Ransomware detected on laptop').first().waitFor();
    await screenshot(page, 'person-risk');

    // The stream page shows the accepted SET.
    await navigate(page, 'Device Integrations');
    await page.getByRole('link', { name: 'Acme EDR' }).click();
    await expectHeading(page, 'Acme EDR');
    const recent = page.getByRole('region', { name: 'Recent events', exact: true });
    await recent.getByText('SUCCESS').waitFor();
    await recent.getByText('ana@example.com').waitFor();
    const traffic = page.getByRole('group', { name: 'Traffic' });
    await traffic.getByText('Accepted (24 h)').waitFor();
    await screenshot(page, 'stream-detail');
  });
});

test('a rule for High logs the person out, and the Risk section shows the logout', async () => {
  await withRiskline(shared.browser, 'policy', async ({ baseUrl, transmitter, newPage }) => {
    const page = await newPage();
    await signIn(page, baseUrl, ADMIN_EMAIL, ADMIN_PASSWORD);
    await navigate(page, 'Device Integrations');
    await page.getByRole('link', { name: 'Add stream', exact: true }).click();
    await expectHeading(page, 'Add stream');
    await page.getByRole('textbox', { name: 'Integration name' }).fill('Acme EDR');
    await page.getByRole('textbox', { name: 'Well-known URL' }).fill(transmitter.wellKnownUrl);
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await expectHeading(page, 'Device Integrations');
    await navigate(page, 'People');
    await page.locator('summary', { hasText: 'Add person' }).click();
    await page.getByLabel('Email', { exact: true }).fill('ana@example.com');
    await page.getByLabel('First name').fill('Ana');
    await page.getByLabel('Last name').fill('Lee');
    await page.getByRole('button', { name: 'Add person', exact: true }).click();
    await page.getByRole('row', { name: /Ana Lee/ }).waitFor();

    // The rule: High → Logout and revoke tokens.
    await navigate(page, 'Entity Risk Policy');
    await page.getByRole('row', { name: /Catch-all rule/ }).waitFor();
    await page.getByRole('textbox', { name: 'Rule name' }).fill('High risk: log out');
    await page.getByLabel('AND Entity risk level is').selectOption('HIGH');
    await page.getByRole('radio', { name: 'Logout and revoke tokens' }).check();
    await page.getByRole('button', { name: 'Add rule', exact: true }).click();
    const rule = page.getByRole('row', { name: /High risk: log out/ });
    await rule.getByText('Logout and revoke tokens (all logout apps)').waitFor();
    await rule.getByText(/risk level is High/).waitFor();
    await screenshot(page, 'entity-risk-policy');
    // A logout app on 127.0.0.1 that accepts every revocation, but answers
    // only once the test lets it: the person's page is open meanwhile.
    const revocations = [];
    let letAppAnswer;
    const appMayAnswer = new Promise((resolve) => {
      letAppAnswer = resolve;
    });
    const app = http.createServer(async (req, res) => {
      revocations.push(`${req.method} ${req.url}`);
      req.resume();
      await appMayAnswer;
      res.writeHead(204);
      res.end();
    });
    await new Promise((resolve) => app.listen(0, '127.0.0.1', resolve));
    after(() => {
      letAppAnswer();
      return new Promise((resolve) => app.close(() => resolve()));
    });
    await navigate(page, 'Universal Logout');
    await page.getByLabel('App name').fill('CRM');
    await page
      .getByLabel('Global Token Revocation endpoint')
      .fill(`http://127.0.0.1:${app.address().port}/oauth/global-token-revocation`);
    await page.getByLabel('Client id').fill('crm');
    await page.getByRole('button', { name: 'Add logout app', exact: true }).click();
    await page.getByRole('heading', { name: /CRM/ }).waitFor();
    await screenshot(page, 'universal-logout');
    await navigate(page, 'Workflows');
    await page.getByLabel('Workflow name').fill('Open a ticket');
    await page.getByLabel('URL', { exact: true }).fill(`${transmitter.url}/hook`);
    await page.getByRole('button', { name: 'Add workflow', exact: true }).click();
    const secret = await page.getByTestId('new-secret').textContent();
    assert.match(secret.trim(), /^whsec_[A-Za-z0-9+/=]+$/);
    await page.getByRole('heading', { name: /Open a ticket \(id 1\)/ }).waitFor();
    await screenshot(page, 'workflows');

    const claims = {
      iss: transmitter.issuer,
      aud: baseUrl,
      iat: Math.floor(Date.now() / 1000),
      jti: randomUUID(),
      events: {
        [USER_RISK]: {
          subject: { user: { format: 'email', email: 'ana@example.com' } },
          current_level: 'high',
          previous_level: 'low',
        },
      },
    };
    const res = await fetch(`${baseUrl}/security/api/v1/security-events`, {
      method: 'POST',
      headers: { 'content-type': 'application/secevent+jwt' },
      body: signSet(transmitter, claims),
    });
    assert.equal(res.status, 202, await res.text());

    await navigate(page, 'People');
    await page.getByRole('link', { name: 'Ana Lee' }).click();
    await expectHeading(page, 'Ana Lee');
    // The app has not answered: the logout is pending, and the page says it
    // will update by itself.
    const detection = page.locator('.timeline li', { hasText: 'Security events provider reported risk' });
    await detection.getByText(/Policy rule\s*High risk: log out\s*matched: Universal Logout/).waitFor();
    await detection.getByText(/CRM:\s*Pending/).waitFor();
    await page.getByRole('status').getByText(/This page updates by itself/).waitFor();
    const risk = page.getByRole('region', { name: 'Risk', exact: true });
    await risk.getByText('High', { exact: true }).first().waitFor();
    await screenshot(page, 'person-logout-pending');
    // Once the app answers, the page shows the outcome without a reload.
    letAppAnswer();
    await page.getByText('Universal Logout: risk reset to Low').waitFor({ timeout: 20_000 });
    await detection.getByText(/CRM:\s*Done/).waitFor();
    await risk.getByText('Low', { exact: true }).first().waitFor();
    assert.equal(await page.getByText(/This page updates by itself/).count(), 0);
    assert.equal(revocations.length, 1, 'one revocation request');
    await screenshot(page, 'person-after-logout');
  });
});

test('marking a detection as a false positive lowers the level, and the history says why', async () => {
  await withRiskline(shared.browser, 'feedback', async ({ baseUrl, transmitter, newPage }) => {
    // India is UTC+5:30 all year: times show there, with UTC on hover.
    const page = await newPage({ timezoneId: 'Asia/Kolkata' });
    await signIn(page, baseUrl, ADMIN_EMAIL, ADMIN_PASSWORD);
    await navigate(page, 'Device Integrations');
    await page.getByRole('link', { name: 'Add stream', exact: true }).click();
    await page.getByRole('textbox', { name: 'Integration name' }).fill('Acme EDR');
    await page.getByRole('textbox', { name: 'Well-known URL' }).fill(transmitter.wellKnownUrl);
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await expectHeading(page, 'Device Integrations');
    await navigate(page, 'People');
    await page.locator('summary', { hasText: 'Add person' }).click();
    await page.getByLabel('Email', { exact: true }).fill('bo@example.com');
    await page.getByLabel('First name').fill('Bo');
    await page.getByLabel('Last name').fill('Ray');
    await page.getByRole('button', { name: 'Add person', exact: true }).click();
    await page.getByRole('row', { name: /Bo Ray/ }).waitFor();

    const claims = {
      iss: transmitter.issuer,
      aud: baseUrl,
      iat: Math.floor(Date.now() / 1000),
      jti: randomUUID(),
      events: {
        [USER_RISK]: {
          subject: { user: { format: 'email', email: 'bo@example.com' } },
          current_level: 'medium',
          reason_admin: { en: 'Unusual download volume' },
        },
      },
    };
    const res = await fetch(`${baseUrl}/security/api/v1/security-events`, {
      method: 'POST',
      headers: { 'content-type': 'application/secevent+jwt' },
      body: signSet(transmitter, claims),
    });
    assert.equal(res.status, 202, await res.text());

    await page.reload();
    await page.getByRole('link', { name: 'Bo Ray' }).click();
    await expectHeading(page, 'Bo Ray');
    const risk = page.getByRole('region', { name: 'Risk', exact: true });
    await risk.getByText('Medium', { exact: true }).first().waitFor();
    const when = page.locator('.timeline li .when time').first();
    await eventually(async () => assert.match(await when.textContent(), /^\d{4}-\d\d-\d\d \d\d:\d\d UTC\+5:30$/));
    assert.match(await when.getAttribute('title'), /^\d{4}-\d\d-\d\d \d\d:\d\d UTC$/);
    const viewLog = page.getByRole('link', { name: 'View System Log' });
    assert.match(await viewLog.getAttribute('href'), /^\/admin\/reports\/system-log\?.*filter=target\.id%20eq%20%2200u/);
    const detection = page.locator('.timeline li', { hasText: 'Security events provider reported risk' });
    assert.match(
      await detection.getByRole('link', { name: 'System Log events' }).getAttribute('href'),
      /filter=transaction\.id%20eq%20%22set%3A/,
    );
    // A confirmation step first: a detection can be labelled only once.
    await detection.locator('summary', { hasText: 'Mark as false positive' }).click();
    await detection.getByRole('button', { name: 'Withdraw as false positive', exact: true }).click();

    await page.getByText('Marked as a false positive: report withdrawn').waitFor();
    await risk.getByText('None', { exact: true }).first().waitFor();
    await risk.getByText('No source reports risk for this person.').waitFor();
    const labelled = page.locator('.timeline li', { hasText: 'Security events provider reported risk' });
    await labelled.getByText('False positive', { exact: true }).waitFor();
    assert.equal(await labelled.getByRole('button', { name: 'Mark as false positive' }).count(), 0);
    await screenshot(page, 'person-false-positive');
  });
});
