// Browser test: the console's script policy. Each page's Content-Security-Policy names a nonce
// of its own that the page's scripts carry, so the hydration script and the wasm run (pages
// hydrate, JS-only behaviour works, nothing is reported as blocked), while a <script> or an
// inline event handler injected into the page does not run.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ADMIN_EMAIL,
  ADMIN_PASSWORD,
  apiClient,
  eventually,
  expectHeading,
  navigate,
  signIn,
  useBrowser,
  waitForHydration,
  withRiskline,
} from './harness.mjs';

const TOKEN = '00e2e-csp-token-0123456789abcdef0123';
const ENV = { RISKLINE_BOOTSTRAP_API_TOKEN: TOKEN };

const shared = useBrowser();

const api = apiClient(TOKEN);

const PAGES = [
  '/',
  '/admin/people',
  '/admin/groups',
  '/admin/security/device-integrations',
  '/admin/security/entity-risk-policy',
  '/admin/security/universal-logout',
  '/admin/security/workflows',
  '/admin/security/api/tokens',
  '/admin/settings/admins',
  '/admin/reports/entity-risk',
  '/admin/reports/at-risk-users',
  '/admin/reports/system-log',
];

/** The nonce a page's policy names (and a check of the policy's script rules). */
function policyNonce(policy, where) {
  assert.ok(policy, `${where}: no Content-Security-Policy`);
  const m = /(?:^|;)\s*script-src 'self' 'nonce-([A-Za-z0-9+/_-]+={0,2})' 'wasm-unsafe-eval'\s*(?:;|$)/.exec(policy);
  assert.ok(m, `${where}: no script-src with a nonce in ${policy}`);
  assert.ok(Buffer.from(m[1], 'base64url').length >= 16, `${where}: nonce ${m[1]} is under 128 bits`);
  assert.match(policy, /(?:^|;)\s*default-src 'self'\s*(?:;|$)/, `${where}: ${policy}`);
  assert.match(policy, /(?:^|;)\s*object-src 'none'\s*(?:;|$)/, `${where}: ${policy}`);
  assert.match(policy, /(?:^|;)\s*base-uri 'self'\s*(?:;|$)/, `${where}: ${policy}`);
  assert.match(policy, /(?:^|;)\s*frame-ancestors 'none'\s*(?:;|$)/, `${where}: ${policy}`);
  assert.doesNotMatch(policy, /'unsafe-inline'|'unsafe-eval'|\*/, `${where}: ${policy}`);
  return m[1];
}

/**
 * Records every CSP violation the page reports, across navigations, in `page.cspViolations`.
 * The listener is added by the browser's debugging protocol, which the policy does not cover.
 */
async function watchViolations(page) {
  page.cspViolations = [];
  await page.exposeFunction('__risklineCspViolation', (v) => page.cspViolations.push(v));
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__risklineCspViolation({
        page: location.pathname,
        directive: e.effectiveDirective,
        blocked: e.blockedURI,
        sample: e.sample,
      });
    });
  });
}

/** Loads `path`, checks its policy and its scripts' nonces, and answers the nonce. */
async function loadPage(page, path) {
  const res = await page.goto(path);
  assert.equal(res.status(), 200, path);
  await waitForHydration(page);
  const nonce = policyNonce(res.headers()['content-security-policy'], path);
  // As sent: every <script> of the page carries the policy's nonce.
  const html = await res.text();
  const tags = html.match(/<script\b[^>]*>/g) ?? [];
  assert.ok(tags.length > 0, `${path}: no scripts`);
  for (const tag of tags) assert.ok(tag.includes(`nonce="${nonce}"`), `${path}: ${tag} lacks the nonce ${nonce}`);
  // As the browser holds them (it hides the attribute, not the property).
  const held = await page.evaluate(() => [...document.scripts].map((s) => s.nonce));
  assert.ok(held.length > 0, `${path}: no scripts in the DOM`);
  assert.deepEqual([...new Set(held)], [nonce], `${path}: script nonces ${held}`);
  return nonce;
}

test('every console page runs its own scripts under a per-answer nonce, and nothing is blocked', async () => {
  await withRiskline(
    shared.browser,
    'csp-pages',
    async ({ baseUrl, transmitter, newPage }) => {
      const user = await api(baseUrl, 'POST', '/api/v1/users?activate=true', {
        profile: { login: 'ana@example.com', email: 'ana@example.com', firstName: 'Ana', lastName: 'Lee' },
      });
      const page = await newPage();
      await watchViolations(page);

      // The sign-in page too: it is the one anyone can load.
      const first = await loadPage(page, '/login');
      const second = await loadPage(page, '/login');
      assert.notEqual(first, second, 'two loads of a page got the same nonce');
      await signIn(page, baseUrl, ADMIN_EMAIL, ADMIN_PASSWORD);

      const seen = new Set([first, second]);
      for (const path of [...PAGES, `/admin/people/${user.id}`]) {
        const nonce = await loadPage(page, path);
        assert.ok(!seen.has(nonce), `${path}: nonce ${nonce} was used before`);
        seen.add(nonce);
      }

      // Hydrated, not just rendered: navigation stays in the page (client-side routing), the
      // next page loads its data by server function, a form saves by server function, and a
      // row menu closes on Escape (the console layout's listener, from the wasm).
      await page.evaluate(() => {
        window.__sameDocument = true;
      });
      const sameDocument = async () =>
        assert.equal(await page.evaluate(() => window.__sameDocument), true, 'a link reloaded the page');
      await navigate(page, 'People');
      await page.getByRole('link', { name: 'Ana Lee' }).waitFor();
      await sameDocument();
      await navigate(page, 'Device Integrations');
      await page.getByRole('link', { name: 'Add stream', exact: true }).click();
      await page.getByRole('textbox', { name: 'Integration name' }).fill('Policy EDR');
      await page.getByRole('radio', { name: 'Issuer and JWKS URL' }).check();
      await page.getByRole('textbox', { name: 'Issuer', exact: true }).fill('https://edr.example');
      await page.getByRole('textbox', { name: 'JWKS URL' }).fill(transmitter.jwksUrl);
      await page.getByRole('button', { name: 'Save', exact: true }).click();
      const menu = page.getByRole('row', { name: /Policy EDR/ }).locator('details.menu');
      await menu.locator(':scope > summary').click();
      assert.equal(await menu.evaluate((d) => d.open), true, 'the row menu did not open');
      await page.keyboard.press('Escape');
      await eventually(async () => assert.equal(await menu.evaluate((d) => d.open), false, 'Escape left the menu open'));
      await sameDocument();

      assert.deepEqual(page.cspViolations, [], 'the console broke its own policy');
      const blocked = page.consoleErrors.filter((e) => /Content Security Policy/i.test(e));
      assert.deepEqual(blocked, [], 'the browser refused something the console needs');
    },
    { env: ENV },
  );
});

test('a script or inline handler injected into a page does not run', async () => {
  await withRiskline(shared.browser, 'csp-injection', async ({ baseUrl, newPage }) => {
    const page = await newPage();
    await watchViolations(page);
    await signIn(page, baseUrl, ADMIN_EMAIL, ADMIN_PASSWORD);
    const nonce = await loadPage(page, '/admin/groups');
    await expectHeading(page, 'Groups');
    assert.deepEqual(page.cspViolations, []);

    // What an HTML injection would add: an inline script (without a nonce, with a guessed one),
    // a script from another site, inline handlers, and a javascript: link.
    await page.evaluate(() => {
      window.__ran = [];
      const main = document.querySelector('main');
      const script = (attrs, text) => {
        const s = document.createElement('script');
        for (const [k, v] of Object.entries(attrs)) s.setAttribute(k, v);
        s.textContent = text;
        main.append(s);
      };
      script({}, "window.__ran.push('inline script')");
      script({ nonce: 'AAAAAAAAAAAAAAAAAAAAAA' }, "window.__ran.push('guessed nonce')");
      script({ src: 'data:text/javascript,window.__ran.push("data script")' }, '');
      const button = document.createElement('button');
      button.setAttribute('onclick', "window.__ran.push('onclick')");
      button.textContent = 'Injected';
      button.id = 'csp-injected-button';
      main.append(button);
      const img = document.createElement('img');
      img.setAttribute('src', 'data:,not-an-image');
      img.setAttribute('onerror', "window.__ran.push('onerror')");
      main.append(img);
      const link = document.createElement('a');
      link.href = "javascript:window.__ran.push('javascript: link')";
      link.id = 'csp-injected-link';
      link.textContent = 'Injected link';
      main.append(link);
    });
    await page.locator('#csp-injected-button').click();
    await page.locator('#csp-injected-link').click();
    // The browser reports each refusal; wait for them so nothing could still be pending.
    await eventually(() => assert.ok(page.cspViolations.length >= 6, JSON.stringify(page.cspViolations)));
    assert.deepEqual(await page.evaluate(() => window.__ran), [], 'injected code ran');
    for (const v of page.cspViolations) {
      assert.match(v.directive, /^script-src/, JSON.stringify(v));
    }

    // The same nonce lets a script in (the policy is a nonce one, not "no scripts"): the page's
    // own nonce is what keeps the console's scripts running.
    await page.evaluate((n) => {
      const s = document.createElement('script');
      s.nonce = n;
      s.textContent = "window.__ran.push('with the nonce')";
      document.querySelector('main').append(s);
    }, nonce);
    assert.deepEqual(await page.evaluate(() => window.__ran), ['with the nonce']);

    // The page still works: client-side navigation after all that.
    await navigate(page, 'People');
  });
});
