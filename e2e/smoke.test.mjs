// Browser smoke tests for the Vigilo demo server.
//
// Runs with node's built-in test runner and playwright-core driving Debian's chromium:
//
//   VIGILO_BASE_URL=http://127.0.0.1:8080 node --test smoke.test.mjs
//
// The server must be `vigilo demo` (fresh demo database, demo accounts below). .ci/run starts
// one on a free port and sets VIGILO_BASE_URL. Screenshots go to e2e/test-results/ (gitignored).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import http from 'node:http';
import { chromium } from 'playwright-core';

const BASE = (process.env.VIGILO_BASE_URL || 'http://127.0.0.1:8080').replace(/\/+$/, '');
const CHROMIUM = process.env.VIGILO_CHROMIUM || '/usr/bin/chromium';
const PASSWORD = 'vigilo-demo-2026';
const ROLES = ['admin', 'reviewer', 'vendor', 'reporter', 'peer'];
const MAX_HOME_BYTES = 100 * 1024;
const RESULTS = fileURLToPath(new URL('./test-results/', import.meta.url));
const TEST_TIMEOUT = 90_000;

let browser;

before(async () => {
  mkdirSync(RESULTS, { recursive: true });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-dev-shm-usage',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
    ],
  });
});

after(async () => {
  await browser?.close();
});

// A fresh browser profile (no cookies) per test. The locale sets Accept-Language: a Vietnamese
// user unless a test says otherwise.
async function newPage(t, { locale = 'vi-VN' } = {}) {
  const context = await browser.newContext({ locale, viewport: { width: 1280, height: 900 } });
  context.setDefaultTimeout(15_000);
  context.setDefaultNavigationTimeout(20_000);
  t.after(() => context.close());
  const page = await context.newPage();
  // Anything that goes wrong in the page's own scripts fails the test that caused it.
  const pageErrors = [];
  page.on('pageerror', (err) => pageErrors.push(String(err)));
  t.after(() => assert.deepEqual(pageErrors, [], 'uncaught errors in the page'));
  return { context, page };
}

async function goto(page, path) {
  const resp = await page.goto(BASE + path, { waitUntil: 'load' });
  assert.ok(resp, `no response for ${path}`);
  assert.ok(resp.status() < 400, `GET ${path} answered ${resp.status()}`);
  return resp;
}

// Clicks something that navigates (a link, a form's submit button) and waits for the new page.
async function clickAndWait(page, selector) {
  const [resp] = await Promise.all([
    page.waitForNavigation({ waitUntil: 'load' }),
    page.click(selector),
  ]);
  return resp;
}

const htmlLang = (page) => page.evaluate(() => document.documentElement.lang);
const bodyText = (page) => page.evaluate(() => document.body.innerText);

async function shot(page, name) {
  await page.screenshot({ path: RESULTS + name, fullPage: true });
}

// A plain HTTP GET with exactly the headers given (fetch would add Accept-Language: *).
function rawGet(path, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.get(BASE + path, { headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode, headers: res.headers, body, text: body.toString('utf8') });
      });
    });
    req.on('error', reject);
    req.setTimeout(15_000, () => req.destroy(new Error(`GET ${path} timed out`)));
  });
}

const langOf = (html) => /<html[^>]*\blang="([^"]*)"/i.exec(html)?.[1];

test('GET /healthz answers 200', async () => {
  const res = await rawGet('/healthz');
  assert.equal(res.status, 200);
});

test('home page: Vietnamese by default, an h1, under 100 KB', async () => {
  const res = await rawGet('/');
  assert.equal(res.status, 200);
  assert.match(String(res.headers['content-type']), /text\/html/);
  assert.equal(langOf(res.text), 'vi', 'html lang without any language preference');
  assert.match(res.text, /<h1[\s>]/i, 'home page has an <h1>');
  assert.ok(res.text.includes('Đăng nhập'), 'logged-out home page links to "Đăng nhập"');
  assert.match(res.text, /id="lang-switch"/, 'home page has the language switch');
  assert.ok(
    res.body.length < MAX_HOME_BYTES,
    `home page HTML is ${res.body.length} bytes, over ${MAX_HOME_BYTES}`,
  );
});

test('home page in English is also under 100 KB', async () => {
  const res = await rawGet('/?lang=en');
  assert.equal(res.status, 200);
  assert.equal(langOf(res.text), 'en');
  assert.ok(res.body.length < MAX_HOME_BYTES, `home page (en) HTML is ${res.body.length} bytes`);
});

test('Accept-Language chooses English when nothing else does', async () => {
  const res = await rawGet('/', { 'Accept-Language': 'en-GB,en;q=0.9' });
  assert.equal(res.status, 200);
  assert.equal(langOf(res.text), 'en');
});

test('home page loads only from its own origin, with no failed requests', { timeout: TEST_TIMEOUT }, async (t) => {
  const { page } = await newPage(t);
  const origin = new URL(BASE).origin;
  const foreign = [];
  const failed = [];
  page.on('request', (req) => {
    const u = req.url();
    if (!u.startsWith(origin) && !u.startsWith('data:')) foreign.push(u);
  });
  page.on('requestfailed', (req) => failed.push(`${req.url()} (${req.failure()?.errorText})`));
  page.on('response', (resp) => {
    if (resp.status() >= 400) failed.push(`${resp.url()} (${resp.status()})`);
  });
  await goto(page, '/');
  await page.waitForLoadState('networkidle');
  assert.deepEqual(foreign, [], 'requests to other hosts (the network is closed: vendor assets)');
  assert.deepEqual(failed, [], 'failed sub-requests');
});

test('language: Vietnamese by default, switch to English, remembered, and back', { timeout: TEST_TIMEOUT }, async (t) => {
  const { page } = await newPage(t);

  await goto(page, '/');
  assert.equal(await htmlLang(page), 'vi');
  const h1vi = (await page.textContent('h1'))?.trim();
  assert.ok(h1vi, 'home page has a non-empty <h1>');
  assert.ok((await bodyText(page)).includes('Đăng nhập'), 'Vietnamese page says "Đăng nhập"');
  await shot(page, 'home-vi.png');

  // The switch on the home page goes to English.
  assert.equal(await page.locator('a#lang-switch').count(), 1, 'exactly one a#lang-switch');
  await clickAndWait(page, 'a#lang-switch');
  assert.equal(await htmlLang(page), 'en', 'after clicking #lang-switch');
  const h1en = (await page.textContent('h1'))?.trim();
  assert.ok(h1en, 'English home page has a non-empty <h1>');
  assert.notEqual(h1en, h1vi, 'the <h1> is translated');
  assert.ok((await bodyText(page)).includes('Log in'), 'English page says "Log in"');
  await shot(page, 'home-en.png');

  // Remembered: on reload, on a plain URL without ?lang, and on the next page.
  await page.reload({ waitUntil: 'load' });
  assert.equal(await htmlLang(page), 'en', 'after reload');
  await goto(page, '/');
  assert.equal(await htmlLang(page), 'en', 'on / without ?lang');
  await goto(page, '/login');
  assert.equal(await htmlLang(page), 'en', 'on /login');
  assert.ok((await bodyText(page)).includes('Log in'), 'English login page says "Log in"');
  await shot(page, 'login-en.png');

  // The switch is on the login page too, and goes back to Vietnamese.
  await clickAndWait(page, 'a#lang-switch');
  assert.equal(await htmlLang(page), 'vi', 'after clicking #lang-switch on /login');
  assert.ok((await bodyText(page)).includes('Đăng nhập'));
  await goto(page, '/');
  assert.equal(await htmlLang(page), 'vi', 'Vietnamese remembered');

  // ?lang= switches explicitly, and is remembered as well.
  await goto(page, '/?lang=en');
  assert.equal(await htmlLang(page), 'en', '?lang=en');
  await goto(page, '/?lang=vi');
  assert.equal(await htmlLang(page), 'vi', '?lang=vi');
  await goto(page, '/');
  assert.equal(await htmlLang(page), 'vi', '?lang=vi remembered');
});

for (const role of ROLES) {
  test(`logs in and out as ${role}`, { timeout: TEST_TIMEOUT }, async (t) => {
    const { context, page } = await newPage(t);
    await goto(page, '/login');
    assert.equal(await page.locator('form#login-form').count(), 1, 'form#login-form');
    assert.equal(await page.locator('#current-user').count(), 0, 'logged out: no #current-user');

    const cookiesBefore = await context.cookies();
    await page.fill('form#login-form input[name=username]', role);
    await page.fill('form#login-form input[name=password]', PASSWORD);
    const resp = await clickAndWait(page, 'form#login-form button[type=submit]');
    assert.ok(!resp || resp.status() < 400, `login answered ${resp?.status()}`);
    assert.equal(new URL(page.url()).pathname, '/', 'lands on the home page');

    const who = page.locator('#current-user');
    assert.equal(await who.count(), 1, `#current-user shown after logging in as ${role}`);
    const whoText = (await who.innerText()).trim();
    assert.ok(whoText.includes(role), `#current-user "${whoText}" names ${role}`);
    assert.equal(await htmlLang(page), 'vi', 'still Vietnamese after logging in');
    if (role === 'admin') await shot(page, 'home-admin-vi.png');

    // Logging in sets a session cookie (new or changed): HttpOnly and SameSite=Strict.
    const sessionCookies = await context.cookies();
    const fresh = sessionCookies.filter(
      (c) => !cookiesBefore.some((b) => b.name === c.name && b.value === c.value),
    );
    assert.ok(fresh.some((c) => c.httpOnly), `an HttpOnly session cookie is set (new: ${fresh.map((c) => c.name)})`);
    for (const c of fresh.filter((c) => c.httpOnly)) {
      assert.equal(c.sameSite, 'Strict', `cookie ${c.name} is SameSite=Strict`);
    }

    // Log out.
    assert.equal(await page.locator('form#logout').count(), 1, 'form#logout');
    await clickAndWait(page, 'form#logout [type=submit]');
    assert.equal(await page.locator('#current-user').count(), 0, 'no #current-user after logout');
    await goto(page, '/');
    assert.equal(await page.locator('#current-user').count(), 0, 'still logged out on /');
    assert.ok((await bodyText(page)).includes('Đăng nhập'), 'login link back after logout');

    // The old session cookie no longer works: logout ends the session on the server.
    const replay = await browser.newContext({ locale: 'vi-VN' });
    try {
      await replay.addCookies(sessionCookies);
      const p2 = await replay.newPage();
      await p2.goto(BASE + '/', { waitUntil: 'load' });
      assert.equal(await p2.locator('#current-user').count(), 0, 'replayed session cookie after logout');
    } finally {
      await replay.close();
    }
  });
}

async function logIn(page, username) {
  await page.fill('form#login-form input[name=username]', username);
  await page.fill('form#login-form input[name=password]', PASSWORD);
  return clickAndWait(page, 'form#login-form button[type=submit]');
}

test('a page that needs a login sends you to /login and back after it', { timeout: TEST_TIMEOUT }, async (t) => {
  const { page } = await newPage(t);
  const resp = await page.goto(BASE + '/admin', { waitUntil: 'load' });
  assert.ok(resp && resp.status() < 400, `GET /admin logged out answered ${resp?.status()}`);
  assert.equal(new URL(page.url()).pathname, '/login', 'redirected to the login page');
  await logIn(page, 'admin');
  assert.equal(new URL(page.url()).pathname, '/admin', 'back on /admin after logging in');
  assert.equal(await page.locator('#current-user').count(), 1);
});

test('the wrong role is refused with 403, not an error', { timeout: TEST_TIMEOUT }, async (t) => {
  const { page } = await newPage(t);
  await goto(page, '/login');
  await logIn(page, 'reporter');
  assert.equal(await page.locator('#current-user').count(), 1, 'logged in as reporter');
  const resp = await page.goto(BASE + '/admin', { waitUntil: 'load' });
  assert.equal(resp?.status(), 403, 'a reporter on /admin');
  assert.equal(await htmlLang(page), 'vi', 'the error page is in the user\'s language');
});

// Last: one failed attempt, after the successful logins, so a login rate limit cannot bite them.
test('wrong password: error message on the login page, not logged in', { timeout: TEST_TIMEOUT }, async (t) => {
  const { page } = await newPage(t);
  await goto(page, '/login');
  const before = new Set((await bodyText(page)).split('\n').map((l) => l.trim()).filter(Boolean));

  const wrong = 'definitely-not-the-password';
  await page.fill('form#login-form input[name=username]', 'admin');
  await page.fill('form#login-form input[name=password]', wrong);
  const [post] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST'),
    clickAndWait(page, 'form#login-form button[type=submit]'),
  ]);
  assert.ok(post.status() < 500, `failed login answered ${post.status()}`);
  const final = await page.waitForLoadState('load').then(() => page.url());
  assert.equal(new URL(final).pathname, '/login', 'stays on the login page');
  assert.equal(await page.locator('#current-user').count(), 0, 'no #current-user');
  assert.equal(await page.locator('form#login-form').count(), 1, 'the form is shown again');

  // An error message: text that the plain login page does not have.
  const extra = (await bodyText(page))
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !before.has(l));
  assert.ok(extra.length > 0, 'an error message is shown');
  assert.ok(!(await page.content()).includes(wrong), 'the password is not echoed back');
  await shot(page, 'login-error-vi.png');

  await goto(page, '/');
  assert.equal(await page.locator('#current-user').count(), 0, 'not logged in on /');
});
