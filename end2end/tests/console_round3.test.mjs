// Browser tests, console polish: errors name fields by the labels the forms show, not by
// the REST API's member paths (profile.firstName, settings.jwks_url, …); row menus close as
// menus do; Add person keeps what was typed without JavaScript.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ADMIN_EMAIL, ADMIN_PASSWORD, navigate, signIn, useBrowser, withRiskline } from './harness.mjs';

const shared = useBrowser();

test('console errors use the form labels, not API member paths', async () => {
  await withRiskline(shared.browser, 'console-wording', async ({ baseUrl, newPage }) => {
    const page = await newPage();
    await signIn(page, baseUrl, ADMIN_EMAIL, ADMIN_PASSWORD);
    await navigate(page, 'People');
    await page.locator('summary', { hasText: 'Add person' }).click();
    await page.getByLabel('Email', { exact: true }).fill('long@example.com');
    await page.getByLabel('First name').fill('x'.repeat(101));
    await page.getByRole('button', { name: 'Add person', exact: true }).click();
    const banner = page.locator('.banner-error');
    await banner.getByText('First name must be at most 100 characters.').waitFor();
    assert.ok(!(await banner.innerText()).includes('profile.'), await banner.innerText());

    await navigate(page, 'Device Integrations');
    await page.getByRole('link', { name: 'Add stream', exact: true }).click();
    await page.getByRole('textbox', { name: 'Integration name' }).fill('Legacy EDR');
    await page.getByRole('radio', { name: 'Issuer and JWKS URL' }).check();
    await page.getByRole('textbox', { name: 'Issuer', exact: true }).fill('https://edr.example');
    // The JWKS URL left out.
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    const error = page.locator('#jwks-url-error');
    await error.waitFor();
    const text = await error.innerText();
    assert.match(text, /^JWKS URL /, text);
    assert.ok(!text.includes('settings.'), text);
  });
});

test('a stream row menu closes on a click outside, on Escape, and when another opens', async () => {
  await withRiskline(shared.browser, 'one-menu', async ({ baseUrl, transmitter, newPage }) => {
    const page = await newPage();
    await signIn(page, baseUrl, ADMIN_EMAIL, ADMIN_PASSWORD);
    await navigate(page, 'Device Integrations');
    for (const name of ['First EDR', 'Second EDR']) {
      await page.getByRole('link', { name: 'Add stream', exact: true }).click();
      await page.getByRole('textbox', { name: 'Integration name' }).fill(name);
      await page.getByRole('radio', { name: 'Issuer and JWKS URL' }).check();
      await page.getByRole('textbox', { name: 'Issuer', exact: true }).fill(`https://${name.split(' ')[0].toLowerCase()}.example`);
      await page.getByRole('textbox', { name: 'JWKS URL' }).fill(transmitter.jwksUrl);
      await page.getByRole('button', { name: 'Save', exact: true }).click();
      await page.getByRole('row', { name: new RegExp(name) }).waitFor();
    }
    const menu = (name) => page.getByRole('row', { name: new RegExp(name) }).locator('details.menu');
    const isOpen = (name) => menu(name).evaluate((d) => d.open);
    const open = async (name) => {
      await menu(name).locator(':scope > summary').click();
      assert.equal(await isOpen(name), true, `${name}'s menu should be open`);
    };
    // A click outside closes it.
    await open('First EDR');
    await page.getByRole('heading', { name: 'Device Integrations' }).click();
    assert.equal(await isOpen('First EDR'), false, 'a click outside should close the menu');
    // So does Escape.
    await open('First EDR');
    await page.keyboard.press('Escape');
    assert.equal(await isOpen('First EDR'), false, 'Escape should close the menu');
    // Opening another (its summary reached by keyboard: the open menu may cover it) closes the first.
    await open('First EDR');
    await menu('Second EDR').locator(':scope > summary').focus();
    await page.keyboard.press('Enter');
    assert.equal(await isOpen('Second EDR'), true);
    assert.equal(await isOpen('First EDR'), false, 'the first menu should have closed');
  });
});

test('without JavaScript, a failed Add person comes back open with what was typed', async () => {
  await withRiskline(shared.browser, 'nojs-add-person', async ({ baseUrl, newPage }) => {
    const page = await newPage({ javaScriptEnabled: false });
    await signIn(page, baseUrl, ADMIN_EMAIL, ADMIN_PASSWORD);
    await page.goto(`${baseUrl}/admin/people`);
    await page.locator('summary', { hasText: 'Add person' }).click();
    const long = 'y'.repeat(101);
    await page.getByLabel('Email', { exact: true }).fill('kept@example.com');
    await page.getByLabel('First name').fill(long);
    await page.getByLabel('Last name').fill('Kept');
    await page.getByRole('button', { name: 'Add person', exact: true }).click();
    await page.locator('.banner-error').getByText('First name must be at most 100 characters.').waitFor();
    // The form is open again, holding what was typed.
    assert.equal(await page.locator('details', { has: page.locator('summary', { hasText: 'Add person' }) }).evaluate((d) => d.open), true);
    assert.equal(await page.getByLabel('Email', { exact: true }).inputValue(), 'kept@example.com');
    assert.equal(await page.getByLabel('First name').inputValue(), long);
    assert.equal(await page.getByLabel('Last name').inputValue(), 'Kept');
    // Opened afresh, the page starts blank.
    await page.goto(`${baseUrl}/admin/people`);
    await page.locator('summary', { hasText: 'Add person' }).click();
    assert.equal(await page.getByLabel('Email', { exact: true }).inputValue(), '');
  });
});
