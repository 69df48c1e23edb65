// Browser test: an admin builds a group on the Groups page (a clear error for a login
// nobody has, members added by login or email whatever its case, removed again), an
// Entity Risk Policy rule names the group, which then cannot be deleted but can be renamed.
import assert from 'node:assert/strict';
import { test } from 'node:test';
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

const shared = useBrowser();

async function addPerson(page, email, first, last) {
  // The form stays open after an add.
  const form = page.locator('details', { has: page.locator('summary', { hasText: 'Add person' }) });
  if (!(await form.evaluate((details) => details.open))) {
    await form.locator('summary').click();
  }
  await page.getByLabel('Email', { exact: true }).fill(email);
  await page.getByLabel('First name').fill(first);
  await page.getByLabel('Last name').fill(last);
  await page.getByRole('button', { name: 'Add person', exact: true }).click();
  await page.getByRole('row', { name: new RegExp(`${first} ${last}`) }).waitFor();
}

test('groups: add a group, add and remove members, use it in a rule, delete only what no rule names', async () => {
  await withRiskline(shared.browser, 'groups', async ({ baseUrl, newPage }) => {
    const page = await newPage();
    await signIn(page, baseUrl, ADMIN_EMAIL, ADMIN_PASSWORD);
    await navigate(page, 'People');
    await addPerson(page, 'ana@example.com', 'Ana', 'Lee');
    await addPerson(page, 'bo@example.com', 'Bo', 'Kim');

    await navigate(page, 'Groups');
    await page.getByRole('heading', { name: 'No groups yet' }).waitFor();
    const addGroup = page.getByRole('region', { name: 'Add group', exact: true });
    await addGroup.getByLabel('Group name').fill('Executives');
    await addGroup.getByLabel('Description').fill('Board and C-level');
    await addGroup.getByRole('button', { name: 'Add group', exact: true }).click();
    const group = page.getByRole('region', { name: 'Executives', exact: true });
    await group.getByText('Board and C-level').waitFor();
    await group.getByText('0 members', { exact: true }).waitFor();
    // Added: the form starts blank for the next one.
    await eventually(async () => assert.equal(await addGroup.getByLabel('Group name').inputValue(), ''));

    // A login nobody has: a clear error, and nothing added.
    const member = group.getByLabel('Add member by login or email');
    await member.fill('nobody@example.com');
    await group.getByRole('button', { name: 'Add member', exact: true }).click();
    await page.getByText('No person has the login or email "nobody@example.com".').waitFor();
    await group.getByText('0 members', { exact: true }).waitFor();
    // Refused: what was typed stays, to be corrected.
    assert.equal(await member.inputValue(), 'nobody@example.com');

    // By email, in another case; then a second person.
    await member.fill('ANA@Example.com');
    await group.getByRole('button', { name: 'Add member', exact: true }).click();
    await group.getByText('1 member', { exact: true }).waitFor();
    await group.getByRole('link', { name: 'Ana Lee' }).waitFor();
    await eventually(async () => assert.equal(await member.inputValue(), ''));
    await member.fill('bo@example.com');
    await group.getByRole('button', { name: 'Add member', exact: true }).click();
    await group.getByText('2 members', { exact: true }).waitFor();
    await screenshot(page, 'groups');

    // Removing a member keeps the other.
    await group.getByRole('button', { name: 'Remove Bo Kim from Executives' }).click();
    await group.getByText('1 member', { exact: true }).waitFor();
    assert.equal(await group.getByRole('link', { name: 'Bo Kim' }).count(), 0);
    await group.getByRole('link', { name: 'Ana Lee' }).waitFor();

    // The membership is stored: it survives a reload, and the person's page lists it.
    await page.reload();
    await group.getByText('1 member', { exact: true }).waitFor();
    await group.getByRole('link', { name: 'Ana Lee' }).click();
    await expectHeading(page, 'Ana Lee');
    await page.locator('dt', { hasText: 'Groups' }).locator('xpath=following-sibling::dd[1]').getByText('Executives').waitFor();

    // A rule for the group's members.
    await navigate(page, 'Entity Risk Policy');
    await page.getByRole('row', { name: /Catch-all rule/ }).waitFor();
    const add = page.getByRole('region', { name: 'Add rule', exact: true });
    await add.getByRole('textbox', { name: 'Rule name' }).fill('Executives at High');
    await add.getByRole('radio', { name: 'These groups', exact: true }).check();
    await add.getByRole('checkbox', { name: 'Executives', exact: true }).check();
    await add.getByLabel('AND Entity risk level is').selectOption('HIGH');
    await add.getByRole('button', { name: 'Add rule', exact: true }).click();
    const rule = page.getByRole('row', { name: /Executives at High/ });
    await rule.getByText(/member of Executives/).waitFor();

    // A group the rule names cannot be deleted; one no rule names can.
    await navigate(page, 'Groups');
    const deleteGroup = async (name) => {
      const card = page.getByRole('region', { name, exact: true });
      const confirm = card.locator('details', { has: page.locator('summary', { hasText: 'Delete' }) });
      if (!(await confirm.evaluate((details) => details.open))) {
        await confirm.locator('summary').click();
      }
      await card.getByRole('button', { name: `Delete group ${name}` }).click();
    };
    await deleteGroup('Executives');
    await page
      .getByText('The Entity Risk Policy rule "Executives at High" names this group: remove it from that rule first.')
      .waitFor();
    await group.getByText('1 member', { exact: true }).waitFor();
    await addGroup.getByLabel('Group name').fill('Contractors');
    await addGroup.getByRole('button', { name: 'Add group', exact: true }).click();
    await page.getByRole('region', { name: 'Contractors', exact: true }).waitFor();
    // Cards are rebuilt in place: the confirmation left open on Executives
    // closes instead of showing on Contractors, which now stands first.
    const openConfirms = page.locator('section.card details[open]');
    await eventually(async () => assert.equal(await openConfirms.count(), 0));
    await deleteGroup('Contractors');
    await page.getByRole('region', { name: 'Contractors', exact: true }).waitFor({ state: 'detached' });
    await group.waitFor();
    await eventually(async () => assert.equal(await openConfirms.count(), 0));

    // Renamed, the group keeps its members and the rule shows the new name.
    await group.locator('summary', { hasText: 'Edit' }).click();
    await group.getByLabel('Name', { exact: true }).fill('Leadership');
    await group.getByRole('button', { name: 'Save', exact: true }).click();
    const renamed = page.getByRole('region', { name: 'Leadership', exact: true });
    await renamed.getByText('1 member', { exact: true }).waitFor();
    await navigate(page, 'Entity Risk Policy');
    await page.getByRole('row', { name: /Executives at High/ }).getByText(/member of Leadership/).waitFor();
  });
});
