// Browser walk through the Navigator and the GRN federation pages on the demo server: a
// station continues its readiness draft, saves an answer and sees its levels and gaps with
// blueprints, opens one and downloads it as PDF and DOCX; the administrator reads the
// readiness map and its CSV, sees this node's identity line, and is told clearly when a peer
// line is wrong; a reviewer opens "From GRN peers". Run like smoke.test.mjs
// (VIGILO_BASE_URL, VIGILO_CHROMIUM).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, RESULTS, TEST_TIMEOUT, useBrowser, newPage, goto, submit, login, text } from './helpers.mjs';

useBrowser();

test('a station continues its readiness draft and sees levels, gaps and blueprints', { timeout: TEST_TIMEOUT }, async (t) => {
  const page = await newPage(t);
  await login(page, 'reporter');
  await goto(page, '/navigator');
  // The demo gives the reporter's station a submitted assessment and an open draft.
  assert.match(await page.textContent('#own-level'), /^[0-4]$/);
  await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.click('#continue-draft')]);
  assert.ok(await page.isVisible('#assessment-form'));
  const first = page.locator('#assessment-form select').first();
  const options = await first.locator('option').evaluateAll((os) => os.map((o) => o.value).filter((v) => v !== ''));
  await first.selectOption(options[options.length - 1]);
  await submit(page, '#save-draft');
  assert.equal(await page.locator('#assessment-form select').first().inputValue(), options[options.length - 1],
    'the saved answer is shown again');
  assert.ok(await page.isVisible('#domains'));
  assert.ok((await page.locator('#domains tbody tr').count()) >= 8, 'a level for each of the eight domains');
  await page.screenshot({ path: RESULTS + 'navigator-assessment-vi.png', fullPage: true });

  // A gap's blueprint: its page, then the two downloads in the page's language.
  const gapLink = page.locator('a[href^="/navigator/blueprints/blueprint-"]').first();
  assert.ok(await gapLink.count() > 0, 'the gaps link their blueprints');
  await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), gapLink.click()]);
  assert.ok((await page.textContent('h1')).length > 0);
  for (const [id, type, magic] of [['#blueprint-pdf', /application\/pdf/, '%PDF'], ['#blueprint-docx', /wordprocessingml/, 'PK']]) {
    const href = await page.getAttribute(id, 'href');
    assert.match(href, /\?lang=vi$/, 'the file follows the page language');
    const file = await page.request.get(BASE + href);
    assert.equal(file.status(), 200);
    assert.match(file.headers()['content-type'], type);
    assert.match(file.headers()['content-disposition'], /^attachment; filename="blueprint-[a-z-]+-vi\.(pdf|docx)"$/);
    assert.equal((await file.body()).subarray(0, magic.length).toString('latin1'), magic);
  }
  await page.screenshot({ path: RESULTS + 'navigator-blueprint-vi.png', fullPage: true });
});

test('the administrator reads the readiness map, its CSV and this node\'s identity', { timeout: TEST_TIMEOUT }, async (t) => {
  const page = await newPage(t, 'en-GB');
  await login(page, 'admin');
  await goto(page, '/navigator/map');
  assert.ok(Number(await page.textContent('#total-assessed')) > 0, 'the demo assessed facilities');
  assert.ok((await page.locator('#readiness tbody tr').count()) > 1);
  const csv = await page.request.get(BASE + '/navigator/map.csv');
  assert.equal(csv.status(), 200);
  assert.match(csv.headers()['content-type'], /text\/csv/);
  await page.screenshot({ path: RESULTS + 'navigator-map-en.png', fullPage: true });

  await goto(page, '/admin/federation');
  assert.match(await page.textContent('#identity-line'), /^vigilo-peer\/1 [A-Z]{2} https?:\/\/\S+ ed25519:[A-Za-z0-9_-]{43} /);
  await page.fill('#peer-line', 'vigilo-peer/1 VN not-a-url ed25519:abc Somewhere');
  await submit(page, '#add-peer button[type=submit]');
  assert.ok(await page.isVisible('#fed-error'), 'a wrong line is refused with a message');
  assert.equal(await page.inputValue('#peer-line'), 'vigilo-peer/1 VN not-a-url ed25519:abc Somewhere',
    'what was typed is kept');
  await page.screenshot({ path: RESULTS + 'federation-admin-en.png', fullPage: true });
});

test('a reviewer opens "From GRN peers"', { timeout: TEST_TIMEOUT }, async (t) => {
  const page = await newPage(t);
  await login(page, 'reviewer');
  await goto(page, '/from-peers');
  const body = await text(page);
  assert.ok(body.length > 0);
  assert.ok(await page.isVisible('#received-none') || await page.isVisible('#received'));
});

test('a reviewer composes an early warning from a confirmed signal and another admin publishes it', { timeout: TEST_TIMEOUT }, async (t) => {
  const page = await newPage(t, 'en-GB');
  await login(page, 'reviewer');
  const list = await (await page.request.get(BASE + '/api/v1/signals?limit=200')).json();
  const signal = list.find((s) => s.product_id && s.state !== 'dismissed' && s.state !== 'closed');
  assert.ok(signal, 'the demo has a signal about a directory product');
  await goto(page, `/signals/${signal.id}`);
  if (signal.state !== 'confirmed') {
    await page.selectOption('#s-action', 'confirm');
    await page.fill('#s-why', 'reviewed the reports: a real excess');
    await submit(page, '#signal-action button[type=submit]');
  }
  await submit(page, '#new-warning');
  assert.ok(await page.isVisible('#warning-facts'), 'the facts from the signal are shown');
  // An identifier in the summary is refused with what to fix, and the text is kept.
  await page.fill('#w-summary', 'Call the reporting nurse on 0912 345 678.');
  await page.fill('#w-rec', 'Check the assistant\'s dosing answers before acting on them.');
  await submit(page, '#warning-form button[type=submit]');
  assert.match(await text(page), /without personal data/);
  await page.fill('#w-summary', 'Repeated wrong dosing advice from the commune virtual assistant, confirmed by review.');
  await submit(page, '#warning-form button[type=submit]');
  assert.ok(await page.isVisible('#warning-payload'), 'the exact payload is previewed');
  assert.doesNotMatch(await page.textContent('#warning-payload'), /0912/);
  const draft = page.url();
  await page.screenshot({ path: RESULTS + 'warning-preview-en.png', fullPage: true });

  const admin = await newPage(t);
  await login(admin, 'admin');
  await admin.goto(draft, { waitUntil: 'load' });
  await submit(admin, '#approve-form button[type=submit]');
  assert.match(await admin.textContent('#warning-state'), /Đã công bố/);
  await admin.screenshot({ path: RESULTS + 'warning-published-vi.png', fullPage: true });
});
