// Browser walk through monitoring on the demo server: a commune station enters a monthly
// report through the form and gets a receipt; a reviewer reads the KPI table by province;
// the public reads the pilot dashboard with small counts hidden.
// Run like smoke.test.mjs (VIGILO_BASE_URL, VIGILO_CHROMIUM).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RESULTS, TEST_TIMEOUT, useBrowser, newPage, goto, submit, login, text } from './helpers.mjs';

useBrowser();

test('a station enters a period report and gets a receipt', { timeout: TEST_TIMEOUT }, async (t) => {
  const page = await newPage(t);
  await login(page, 'reporter');
  await goto(page, '/deployments');
  const link = await page.$('#deployments a[href^="/deployments/"]');
  assert.ok(link, 'the station sees its deployments');
  const [resp] = await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), link.click()]);
  assert.ok(resp.status() < 400);
  assert.match(await text(page), /Báo cáo đã nhận/);
  await page.fill('#r-uses', '50');
  await page.fill('#r-pos', '5');
  await submit(page, '#report-form button[type=submit]');
  const body = await text(page);
  assert.match(body, /Biên nhận\s+MR-\d{8}-[0-9A-F]{8}/);
  assert.doesNotMatch(body, /bị từ chối.*[1-9]/);
  await page.screenshot({ path: RESULTS + 'deployment-station-vi.png', fullPage: true });
  // A count that cannot be right is refused with a message naming the field.
  await page.fill('#r-uses', '5');
  await page.fill('#r-pos', '9');
  await submit(page, '#report-form button[type=submit]');
  assert.match(await text(page), /không thể lớn hơn số lượt dùng/);
});

test('a reviewer reads KPIs by province with completeness', { timeout: TEST_TIMEOUT }, async (t) => {
  const page = await newPage(t, 'en-GB');
  await login(page, 'reviewer');
  await goto(page, '/monitoring?period=2026-Q3&level=province');
  const body = await text(page);
  assert.match(body, /Completeness/);
  assert.match(body, /Bắc Ninh/);
  const rows = await page.$$('#kpis tbody tr');
  assert.ok(rows.length >= 30, `a row per province, got ${rows.length}`);
  await page.screenshot({ path: RESULTS + 'monitoring-reviewer-en.png', fullPage: true });
});

test('the public pilot dashboard shows provinces and no facility', { timeout: TEST_TIMEOUT }, async (t) => {
  const page = await newPage(t);
  await goto(page, '/pilot?period=2026-Q3');
  const body = await text(page);
  assert.match(body, /Thí điểm AI quốc gia/);
  assert.match(body, /Hà Nội/);
  assert.doesNotMatch(body, /Trạm Y tế/);
  const size = await page.evaluate(() => document.documentElement.outerHTML.length);
  assert.ok(size < 100_000, `the page stays under 100 KB (${size} bytes)`);
  await page.screenshot({ path: RESULTS + 'pilot-public-vi.png', fullPage: true });
});
