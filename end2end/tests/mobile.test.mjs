// Browser test: at a phone's width (375 px) every console page fits: nothing scrolls the page
// sideways, the content starts on screen, and the navigation folds behind a Menu button that
// opens it, follows a link and folds again. At desktop width the sidebar shows as before.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ADMIN_EMAIL,
  ADMIN_PASSWORD,
  eventually,
  expectHeading,
  mainNav,
  screenshot,
  signIn,
  useBrowser,
  waitForHydration,
  withRiskline,
} from './harness.mjs';

const TOKEN = '00e2e-mobile-token-0123456789abcdef';
const ENV = { RISKLINE_BOOTSTRAP_API_TOKEN: TOKEN };

const shared = useBrowser();

const PAGES = [
  ['/', 'Dashboard'],
  ['/admin/people', 'People'],
  ['/admin/groups', 'Groups'],
  ['/admin/security/device-integrations', 'Device Integrations'],
  ['/admin/security/device-integrations/streams/new', 'Add stream'],
  ['/admin/security/entity-risk-policy', 'Entity Risk Policy'],
  ['/admin/security/universal-logout', 'Universal Logout'],
  ['/admin/security/workflows', 'Workflows'],
  ['/admin/security/api/tokens', 'API tokens'],
  ['/admin/reports/system-log', 'System Log'],
  ['/admin/reports/entity-risk', null],
  ['/admin/reports/at-risk-users', null],
  ['/admin/settings/admins', 'Administrators'],
  ['/admin/people/import', null],
];

async function phone(browser, baseUrl) {
  const context = await browser.newContext({
    baseURL: baseUrl,
    viewport: { width: 375, height: 740 },
    isMobile: true,
    hasTouch: true,
  });
  context.setDefaultTimeout(15_000);
  const page = await context.newPage();
  page.consoleErrors = [];
  page.on('pageerror', (err) => page.consoleErrors.push(String(err)));
  return page;
}

/** Nothing wider than the screen, and the page's content starts on screen. */
async function expectFits(page, where) {
  const m = await page.evaluate(() => {
    const main = document.querySelector('main');
    const box = main.getBoundingClientRect();
    const h1 = main.querySelector('h1')?.getBoundingClientRect();
    return {
      inner: window.innerWidth,
      scroll: document.documentElement.scrollWidth,
      bodyScroll: document.body.scrollWidth,
      mainLeft: box.left,
      mainWidth: box.width,
      h1Left: h1 ? h1.left : 0,
      h1Top: h1 ? h1.top + window.scrollY : 0,
    };
  });
  assert.equal(m.inner, 375, `${where}: the layout viewport is ${m.inner} px wide`);
  assert.ok(m.scroll <= m.inner, `${where}: the page scrolls sideways (${m.scroll} > ${m.inner})`);
  assert.ok(m.bodyScroll <= m.inner, `${where}: the body is ${m.bodyScroll} px wide`);
  assert.ok(m.mainLeft >= 0 && m.mainLeft < 40, `${where}: the content starts at x=${m.mainLeft}`);
  assert.ok(m.mainWidth <= m.inner, `${where}: the content is ${m.mainWidth} px wide`);
  assert.ok(m.h1Left >= 0 && m.h1Left < 60, `${where}: the heading starts at x=${m.h1Left}`);
  assert.ok(m.h1Top < 200, `${where}: the heading is ${m.h1Top} px down, below the navigation`);
}

test('at 375 px the console fits the screen and the navigation folds behind Menu', async () => {
  await withRiskline(
    shared.browser,
    'mobile',
    async ({ baseUrl }) => {
      // A person, a stream-less log and a rule, so that pages have rows.
      const res = await fetch(`${baseUrl}/api/v1/users`, {
        method: 'POST',
        headers: { authorization: `SSWS ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          profile: {
            login: 'a.very.long.login.name.for.testing@example.com',
            email: 'a.very.long.login.name.for.testing@example.com',
            firstName: 'Ana',
            lastName: 'Lee',
          },
        }),
      });
      const body = await res.text();
      assert.ok(res.ok, body);
      const user = JSON.parse(body);

      const page = await phone(shared.browser, baseUrl);
      try {
        await signIn(page, baseUrl, ADMIN_EMAIL, ADMIN_PASSWORD);
        for (const [path, heading] of [...PAGES, [`/admin/people/${user.id}`, 'Ana Lee']]) {
          await page.goto(path);
          if (heading) await expectHeading(page, heading);
          else await waitForHydration(page);
          await expectFits(page, path);
        }
        await page.goto('/admin/people');
        await expectHeading(page, 'People');
        await screenshot(page, 'mobile-people');

        // The navigation is folded; Menu opens it; a link navigates and folds it again.
        const people = mainNav(page).getByRole('link', { name: 'Groups', exact: true });
        assert.equal(await people.isVisible(), false, 'the navigation shows before Menu is pressed');
        const menu = page.locator('label[for=nav-toggle]');
        await menu.click();
        await people.waitFor({ state: 'visible' });
        await screenshot(page, 'mobile-menu-open');
        await people.click();
        await expectHeading(page, 'Groups');
        await eventually(async () => assert.equal(await people.isVisible(), false, 'the menu stayed open'));
        await expectFits(page, 'after the menu');

        // "Add person" is not covered by the sidebar any more.
        await page.goto('/admin/people');
        await expectHeading(page, 'People');
        await page.locator('summary', { hasText: 'Add person' }).click();
        await page.getByRole('button', { name: 'Add person', exact: true }).click({ trial: true });
        assert.deepEqual(page.consoleErrors, []);
      } finally {
        await page.context().close();
      }
    },
    { env: ENV },
  );
});

test('at desktop width the sidebar shows its navigation and no Menu button', async () => {
  await withRiskline(shared.browser, 'desktop-nav', async ({ baseUrl, newPage }) => {
    const page = await newPage();
    await page.setViewportSize({ width: 1280, height: 900 });
    await signIn(page, baseUrl, ADMIN_EMAIL, ADMIN_PASSWORD);
    await mainNav(page).getByRole('link', { name: 'Groups', exact: true }).waitFor({ state: 'visible' });
    assert.equal(await page.locator('label[for=nav-toggle]').isVisible(), false);
    const left = await page.evaluate(() => document.querySelector('main').getBoundingClientRect().left);
    assert.ok(left >= 200, `the content starts at x=${left}, over the sidebar`);
  });
});
