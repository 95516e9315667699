// Browser walk through early warning on the demo server: a health worker reports an
// incident (the description is shown de-identified before sending, the draft survives a
// reload, a report sent while offline goes when the connection returns); a reviewer reads
// the signal the demo injected; the public reads counts and safety notices.
// Run like smoke.test.mjs (VIGILO_BASE_URL, VIGILO_CHROMIUM).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RESULTS, TEST_TIMEOUT, useBrowser, newPage, goto, submit, login, text } from './helpers.mjs';

useBrowser();

async function fillReport(page, narrative) {
  await goto(page, '/report');
  await page.selectOption('#i-product', { index: 1 });
  await page.selectOption('#i-prov', { index: 1 });
  await page.check('input[name=seriousness][value=other_injury]');
  await page.fill('#i-narr', narrative);
}

test('a health worker previews the de-identified text and gets a receipt', { timeout: TEST_TIMEOUT }, async (t) => {
  const page = await newPage(t);
  await fillReport(page, 'Trợ lý ảo khuyên bệnh nhân Trần Thị Mai (SĐT 0912 345 678) uống gấp đôi liều paracetamol.');
  await submit(page, '#i-preview');
  const preview = await page.textContent('#preview-text');
  assert.doesNotMatch(preview, /0912 345 678|Trần Thị Mai/);
  assert.match(preview, /\[PHONE\]/);
  assert.match(preview, /gấp đôi liều paracetamol/);
  await page.screenshot({ path: RESULTS + 'incident-preview-vi.png', fullPage: true });
  await submit(page, '#i-send');
  const body = await text(page);
  assert.match(body, /SC-\d{4}-\d{6}/);
  const draft = await page.evaluate(() => localStorage.getItem('vigilo-incident-draft'));
  assert.equal(draft, null, 'the sent draft is cleared');
});

test('a draft survives a reload and an offline report goes when the connection returns', { timeout: TEST_TIMEOUT }, async (t) => {
  const page = await newPage(t);
  await fillReport(page, 'Máy đọc phim LaoScan treo khi khởi động; trạm không sàng lọc được buổi sáng.');
  await page.reload({ waitUntil: 'load' });
  assert.match(await page.inputValue('#i-narr'), /LaoScan treo/, 'the draft came back');
  await submit(page, '#i-preview');
  await page.context().setOffline(true);
  await page.click('#i-send');
  await page.waitForSelector('#draft-status:not([hidden])');
  assert.match(await page.textContent('#draft-status'), /Mất kết nối/);
  const held = JSON.parse(await page.evaluate(() => localStorage.getItem('vigilo-incident-draft')));
  assert.equal(held.pending, true);
  const sent = page.waitForNavigation({ waitUntil: 'load' });
  await page.context().setOffline(false);
  await sent;
  assert.match(await text(page), /SC-\d{4}-\d{6}/);
});

test('a reviewer finds the injected dosing signal and the public sees counts and notices', { timeout: TEST_TIMEOUT }, async (t) => {
  const page = await newPage(t, 'en-GB');
  await login(page, 'reviewer');
  await goto(page, '/signals');
  const body = await text(page);
  assert.match(body, /Cluster in space and time/);
  assert.match(body, /Trợ lý Y tế Xã/);
  await page.screenshot({ path: RESULTS + 'signals-reviewer-en.png', fullPage: true });
  await goto(page, '/incidents?state=received');
  assert.ok((await page.$$('#incidents tbody tr')).length > 0, 'reports wait for triage');
  const pub = await newPage(t);
  await goto(pub, '/early-warning');
  const counts = await text(pub);
  assert.match(counts, /không chứng minh/);
  assert.doesNotMatch(counts, /gấp đôi liều/, 'no narrative in public');
  const size = await pub.evaluate(() => document.documentElement.outerHTML.length);
  assert.ok(size < 100_000, `the page stays under 100 KB (${size} bytes)`);
  await pub.screenshot({ path: RESULTS + 'early-warning-public-vi.png', fullPage: true });
  await goto(pub, '/notices');
});
