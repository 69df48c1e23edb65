// Browser test: more console fixes.
// - The rule form's workflow is a choice among the existing workflows, with a link to
//   Security › Workflows when there are none.
// - On the Groups page a card's error shows in that card, where the admin is looking, and
//   the errors of other forms are cleared.
// - A 100-character stream name with no space does not make the page scroll sideways.
// - Once the session has ended, one notice says so with a Sign in link that comes back to
//   the page, and the write forms go away.
// - A read-only admin who opens Add stream or Import people sees a notice, not a form.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ADMIN_EMAIL,
  ADMIN_PASSWORD,
  apiClient,
  eventually,
  expectHeading,
  goto,
  navigate,
  screenshot,
  signIn,
  useBrowser,
  waitForHydration,
  withRiskline,
} from './harness.mjs';

const TOKEN = '00e2e-round2-token-0123456789abcdef';
const ENV = { RISKLINE_BOOTSTRAP_API_TOKEN: TOKEN };

const shared = useBrowser();

const api = apiClient(TOKEN);

/** Whether `locator`'s box lies (at least partly) inside the viewport. */
async function inViewport(locator) {
  return locator.evaluate((el) => {
    const r = el.getBoundingClientRect();
    return r.bottom > 0 && r.top < window.innerHeight && r.height > 0;
  });
}

async function noSidewaysScroll(page) {
  await eventually(async () => {
    const { scroll, client } = await page.evaluate(() => ({
      scroll: document.documentElement.scrollWidth,
      client: document.documentElement.clientWidth,
    }));
    assert.ok(scroll <= client, `the page is ${scroll} px wide in a ${client} px window`);
  });
}

test('the rule form offers the existing workflows, and says where to add one', async () => {
  await withRiskline(shared.browser, 'rule-workflow', async ({ baseUrl, transmitter, newPage }) => {
    const page = await newPage();
    await signIn(page, baseUrl, ADMIN_EMAIL, ADMIN_PASSWORD);
    await navigate(page, 'Entity Risk Policy');
    const form = page.getByRole('region', { name: 'Add rule' });
    const workflow = form.getByLabel('Workflow to run');
    // No workflow yet: nothing to choose, and a link to where they are added.
    assert.equal(await workflow.isDisabled(), true);
    await form.getByText('No workflows yet: add one under').waitFor();
    const link = form.getByRole('link', { name: 'Security › Workflows' });
    assert.equal(await link.getAttribute('href'), '/admin/security/workflows');

    // Run a delegated workflow with none chosen: refused under the field, nothing saved.
    await form.getByLabel('Rule name').fill('Ticket on high');
    await form.getByRole('radio', { name: 'Run a delegated workflow' }).check();
    await form.getByRole('button', { name: 'Add rule', exact: true }).click();
    await form.locator('#rule-workflow-error').getByText('Choose the workflow to run').waitFor();
    assert.equal(await page.getByRole('row', { name: /Ticket on high/ }).count(), 0);
    assert.equal(await form.getByLabel('Rule name').inputValue(), 'Ticket on high');
    await screenshot(page, 'rule-workflow-none');

    await link.click();
    await expectHeading(page, 'Workflows');
    await page.getByLabel('Workflow name').fill('Open a ticket');
    await page.getByLabel('URL', { exact: true }).fill(`${transmitter.url}/hook`);
    await page.getByRole('button', { name: 'Add workflow', exact: true }).click();
    await page.getByRole('heading', { name: /Open a ticket \(id 1\)/ }).waitFor();

    await navigate(page, 'Entity Risk Policy');
    const choice = page.getByRole('region', { name: 'Add rule' }).getByLabel('Workflow to run');
    assert.equal(await choice.isDisabled(), false);
    assert.deepEqual(
      (await choice.locator('option').allTextContents()).map((t) => t.trim()),
      ['Choose a workflow', 'Open a ticket (id 1)'],
    );
    await page.getByLabel('Rule name').fill('Ticket on high');
    await page.getByRole('radio', { name: 'Run a delegated workflow' }).check();
    await choice.selectOption({ label: 'Open a ticket (id 1)' });
    await page.getByRole('button', { name: 'Add rule', exact: true }).click();
    const row = page.getByRole('row', { name: /Ticket on high/ });
    await row.getByText('Run delegated workflow Open a ticket (id 1)').waitFor();
    await screenshot(page, 'rule-workflow-chosen');
  }, { env: ENV });
});

test("a group card's error shows in that card, and other errors are cleared", async () => {
  await withRiskline(shared.browser, 'group-errors', async ({ baseUrl, newPage }) => {
    // Enough groups, each with a few members, for a page several screens tall.
    const people = [];
    for (let i = 0; i < 6; i += 1) {
      const user = await api(baseUrl, 'POST', '/api/v1/users?activate=true', {
        profile: { email: `p${i}@example.com`, login: `p${i}@example.com`, firstName: `P${i}`, lastName: 'Person' },
      });
      people.push(user.id);
    }
    const names = ['Engineering', 'Finance', 'Legal', 'Marketing', 'Operations', 'Product', 'Research', 'Sales'];
    for (const name of names) {
      const group = await api(baseUrl, 'POST', '/api/v1/groups', { profile: { name, description: `${name} team` } });
      for (const id of people) await api(baseUrl, 'PUT', `/api/v1/groups/${group.id}/users/${id}`);
    }

    const page = await newPage();
    await page.setViewportSize({ width: 1280, height: 700 });
    await signIn(page, baseUrl, ADMIN_EMAIL, ADMIN_PASSWORD);
    await navigate(page, 'Groups');

    // The Add group form's own error, at the top.
    const addGroup = page.getByRole('region', { name: 'Add group', exact: true });
    await addGroup.getByLabel('Group name').fill('Engineering');
    await addGroup.getByRole('button', { name: 'Add group', exact: true }).click();
    await addGroup.getByText('A group named Engineering already exists.').waitFor();

    // A bad member in the last card: the message is in that card, on screen.
    const sales = page.getByRole('region', { name: 'Sales', exact: true });
    const member = sales.getByLabel('Add member by login or email');
    await member.scrollIntoViewIfNeeded();
    assert.ok((await page.evaluate(() => window.scrollY)) > 700, 'the Sales card is below the first screen');
    await member.fill('nobody@nowhere.example');
    await sales.getByRole('button', { name: 'Add member', exact: true }).click();
    const error = sales.getByRole('alert').filter({ hasText: 'nobody@nowhere.example' });
    await error.waitFor();
    assert.ok(await inViewport(error), 'the error is where the admin is looking');
    // The other form's error is gone, and no copy of it sits at the top of the page.
    await eventually(async () => assert.equal(await addGroup.getByText('already exists').count(), 0));
    assert.equal(await page.getByRole('alert').count(), 1);
    // Refused: what was typed stays.
    assert.equal(await member.inputValue(), 'nobody@nowhere.example');
    await screenshot(page, 'group-card-error');

    // An error in another card replaces it.
    const legal = page.getByRole('region', { name: 'Legal', exact: true });
    await legal.getByLabel('Add member by login or email').fill('ghost@example.com');
    await legal.getByRole('button', { name: 'Add member', exact: true }).click();
    await legal.getByRole('alert').filter({ hasText: 'ghost@example.com' }).waitFor();
    await eventually(async () => assert.equal(await sales.getByRole('alert').count(), 0));
    assert.equal(await page.getByRole('alert').count(), 1);

    // A success clears it too.
    await legal.getByLabel('Add member by login or email').fill('p0@example.com');
    await legal.getByRole('button', { name: 'Add member', exact: true }).click();
    await eventually(async () => assert.equal(await page.getByRole('alert').count(), 0));

    // Renaming a card onto a taken name: the error is inside that card's Edit.
    await sales.locator('summary', { hasText: 'Edit' }).click();
    await sales.getByLabel('Name', { exact: true }).fill('Legal');
    await sales.getByRole('button', { name: 'Save', exact: true }).click();
    await sales.getByRole('alert').filter({ hasText: 'Legal' }).waitFor();
    assert.equal(await page.getByRole('alert').count(), 1);
  }, { env: ENV });
});

test('a 100-character stream name wraps instead of widening the page', async () => {
  await withRiskline(shared.browser, 'long-stream-name', async ({ baseUrl, transmitter, newPage }) => {
    const page = await newPage();
    await page.setViewportSize({ width: 1280, height: 900 });
    await signIn(page, baseUrl, ADMIN_EMAIL, ADMIN_PASSWORD);
    const name = `Acme${'X'.repeat(96)}`;
    assert.equal(name.length, 100);
    await navigate(page, 'Device Integrations');
    await page.getByRole('link', { name: 'Add stream', exact: true }).click();
    await expectHeading(page, 'Add stream');
    await page.getByRole('textbox', { name: 'Integration name' }).fill(name);
    await page.getByRole('textbox', { name: 'Well-known URL' }).fill(transmitter.wellKnownUrl);
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await expectHeading(page, 'Device Integrations');
    await page.getByRole('link', { name }).waitFor();
    await noSidewaysScroll(page);
    await screenshot(page, 'long-stream-name-list');

    await navigate(page, 'Dashboard');
    await page.getByRole('link', { name }).first().waitFor();
    await noSidewaysScroll(page);
    await screenshot(page, 'long-stream-name-dashboard');

    await page.getByRole('link', { name }).first().click();
    await expectHeading(page, name);
    await noSidewaysScroll(page);
  });
});

test('after the session ends, one notice links to sign in and back', async () => {
  await withRiskline(shared.browser, 'session-ended', async ({ baseUrl, newPage }) => {
    const page = await newPage();
    await signIn(page, baseUrl, ADMIN_EMAIL, ADMIN_PASSWORD);
    await navigate(page, 'Groups');
    await page.getByText('Super admin', { exact: true }).waitFor();

    // Signed out in another tab of the same browser.
    const other = await page.context().newPage();
    await other.goto(`${baseUrl}/`);
    await waitForHydration(other);
    await other.getByRole('button', { name: 'Sign out', exact: true }).click();
    await other.waitForURL((url) => url.pathname.startsWith('/login'));
    await other.close();

    // The next change is refused: one notice, with a link that comes back here.
    const addGroup = page.getByRole('region', { name: 'Add group', exact: true });
    await addGroup.getByLabel('Group name').fill('Contractors');
    await addGroup.getByRole('button', { name: 'Add group', exact: true }).click();
    const notice = page.getByRole('alert').filter({ hasText: 'Your session has ended.' });
    await notice.waitFor();
    const link = notice.getByRole('link', { name: 'Sign in again' });
    assert.equal(await link.getAttribute('href'), '/login?next=/admin/groups');
    // Once only, and visible whatever the scroll.
    await eventually(async () => assert.equal(await page.getByText('Your session has ended').count(), 1));
    assert.ok(await inViewport(notice));
    // The page no longer offers changes, nor claims a signed-in super admin.
    await eventually(async () => {
      assert.equal(await page.getByText('Super admin', { exact: true }).count(), 0);
      assert.equal(await addGroup.count(), 0);
    });
    await page.getByText('Signed out', { exact: true }).waitFor();
    await screenshot(page, 'session-ended');

    // Moving to another page in the console keeps a single notice.
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'People', exact: true }).click();
    await page.waitForURL(/\/admin\/people$/);
    await eventually(async () => assert.equal(await page.getByText('Your session has ended').count(), 1));
    assert.equal(
      await page.getByRole('link', { name: 'Sign in again' }).getAttribute('href'),
      '/login?next=/admin/people',
    );

    // Signing in there comes back to the page.
    await page.getByRole('link', { name: 'Sign in again' }).click();
    await page.waitForURL((url) => url.pathname === '/login');
    await waitForHydration(page);
    await page.getByLabel('Email', { exact: true }).fill(ADMIN_EMAIL);
    await page.getByLabel('Password', { exact: true }).fill(ADMIN_PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL((url) => url.pathname === '/admin/people');
    await expectHeading(page, 'People');

    // An address elsewhere is never a place to return to.
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.waitForURL((url) => url.pathname.startsWith('/login'));
    await goto(page, '/login?next=//evil.example/');
    await page.getByLabel('Email', { exact: true }).fill(ADMIN_EMAIL);
    await page.getByLabel('Password', { exact: true }).fill(ADMIN_PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL((url) => url.origin === baseUrl && url.pathname === '/');
    await expectHeading(page, 'Dashboard');
  });
});

test('without JavaScript, sign-in returns to the page it was sent from', async () => {
  await withRiskline(shared.browser, 'session-next-nojs', async ({ baseUrl, newPage }) => {
    const page = await newPage({ javaScriptEnabled: false });
    await page.goto(`${baseUrl}/login?next=/admin/groups`);
    await page.getByLabel('Email', { exact: true }).fill(ADMIN_EMAIL);
    await page.getByLabel('Password', { exact: true }).fill(ADMIN_PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL((url) => url.pathname === '/admin/groups');
    await page.getByRole('heading', { level: 1, name: 'Groups' }).waitFor();
  });
});

test('a read-only admin is told, not shown, the Add stream and Import forms', async () => {
  await withRiskline(shared.browser, 'readonly-forms', async ({ baseUrl, newPage }) => {
    const page = await newPage();
    await signIn(page, baseUrl, ADMIN_EMAIL, ADMIN_PASSWORD);
    await navigate(page, 'Administrators');
    await page.getByRole('textbox', { name: 'Email', exact: true }).fill('analyst@example.com');
    await page.getByRole('textbox', { name: 'Display name', exact: true }).fill('Ana Lyst');
    await page.getByLabel('Password', { exact: true }).fill('Analyst-e2e-Passw0rd!');
    await page.getByRole('combobox', { name: 'Role' }).selectOption({ label: 'Read-only admin' });
    await page.getByRole('button', { name: 'Add administrator', exact: true }).click();
    await page.getByRole('row', { name: /analyst@example\.com/ }).waitFor();

    const analyst = await newPage();
    await signIn(analyst, baseUrl, 'analyst@example.com', 'Analyst-e2e-Passw0rd!');
    for (const js of [true, false]) {
      const p = js ? analyst : await newPage({ javaScriptEnabled: false });
      if (!js) {
        await p.context().addCookies(await analyst.context().cookies());
      }
      await goto(p, '/admin/security/device-integrations/streams/new');
      await p.getByRole('heading', { level: 1, name: 'Add stream' }).waitFor();
      await p.getByText('Read-only admins cannot add streams').waitFor();
      assert.equal(await p.getByRole('textbox', { name: 'Integration name' }).count(), 0);
      assert.equal(await p.getByRole('button', { name: 'Save', exact: true }).count(), 0);
      await p.getByRole('link', { name: 'Back to Device Integrations' }).waitFor();
      if (js) await screenshot(p, 'readonly-add-stream');

      await goto(p, '/admin/people/import');
      await p.getByRole('heading', { level: 1, name: 'Import people' }).waitFor();
      await p.getByText('Read-only admins cannot import people').waitFor();
      assert.equal(await p.getByRole('textbox', { name: 'CSV' }).count(), 0);
      assert.equal(await p.getByRole('button', { name: 'Preview', exact: true }).count(), 0);
    }

    // The super admin still gets both forms.
    await goto(page, '/admin/security/device-integrations/streams/new');
    await page.getByRole('textbox', { name: 'Integration name' }).waitFor();
    assert.equal(await page.getByText('Read-only admins').count(), 0);
    await goto(page, '/admin/people/import');
    await page.getByRole('textbox', { name: 'CSV' }).waitFor();
  });
});

test('without JavaScript, a failed Add stream keeps what was typed; a failed sign-in keeps nothing', async () => {
  await withRiskline(shared.browser, 'nojs-keeps-typed', async ({ baseUrl, transmitter, newPage }) => {
    const page = await newPage({ javaScriptEnabled: false });
    await page.goto(`${baseUrl}/login`);
    await page.getByLabel('Email', { exact: true }).fill(ADMIN_EMAIL);
    await page.getByLabel('Password', { exact: true }).fill('not-the-password');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('alert').filter({ hasText: 'Email or password is incorrect' }).waitFor();
    // A failed sign-in takes no session, so it keeps nothing of what was typed.
    assert.equal(await page.getByLabel('Password', { exact: true }).inputValue(), '');
    const cookies = await page.context().cookies();
    assert.equal(cookies.length, 0, JSON.stringify(cookies));

    await page.getByLabel('Email', { exact: true }).fill(ADMIN_EMAIL);
    await page.getByLabel('Password', { exact: true }).fill(ADMIN_PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL((url) => !url.pathname.startsWith('/login'));

    await page.goto(`${baseUrl}/admin/security/device-integrations/streams/new`);
    const unreachable = `${transmitter.url}/nothing-here/.well-known/ssf-configuration`;
    await page.getByRole('textbox', { name: 'Integration name' }).fill('Broken EDR');
    await page.getByRole('textbox', { name: 'Well-known URL' }).fill(unreachable);
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await page.locator('#well-known-url-error').waitFor();
    assert.equal(await page.getByRole('textbox', { name: 'Integration name' }).inputValue(), 'Broken EDR');
    assert.equal(await page.getByRole('textbox', { name: 'Well-known URL' }).inputValue(), unreachable);
    await screenshot(page, 'nojs-add-stream-error');

    // The other setup keeps its choice and fields too.
    await page.getByLabel('Issuer and JWKS URL').check();
    await page.getByRole('textbox', { name: 'Issuer' }).fill('https://issuer.example');
    await page.getByRole('textbox', { name: 'JWKS URL' }).fill(`${transmitter.url}/missing-jwks.json`);
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await page.getByRole('alert').first().waitFor();
    assert.equal(await page.getByLabel('Issuer and JWKS URL').isChecked(), true);
    assert.equal(await page.getByRole('textbox', { name: 'Issuer' }).inputValue(), 'https://issuer.example');
    assert.equal(await page.getByRole('textbox', { name: 'Integration name' }).inputValue(), 'Broken EDR');
  });
});
