// Browser walk through the Directory on the demo server: the public searches and filters,
// a vendor registers a product and a version, a reviewer publishes and classifies it, and the
// public finds it. Run like smoke.test.mjs (VIGILO_BASE_URL, VIGILO_CHROMIUM).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, RESULTS, TEST_TIMEOUT, useBrowser, newPage, goto, submit, login, text } from './helpers.mjs';

useBrowser();

test('the public searches without diacritics and narrows by a facet', { timeout: TEST_TIMEOUT }, async (t) => {
  const page = await newPage(t);
  await goto(page, '/directory');
  assert.match(await text(page), /Danh mục sản phẩm AI y tế/);
  await page.fill('#q', 'sang loc lao');
  await submit(page, '#dir-search button[type=submit]');
  assert.match(await page.textContent('#dir-total'), /^1 kết quả/);
  assert.match(await text(page), /LaoScan CXR/);
  // Clear the text and filter by clinical area through the facet link.
  await goto(page, '/directory');
  await submit(page, 'a[href*="clinical_area=respiratory_distress"]');
  assert.match(await page.textContent('#dir-total'), /^1 kết quả/);
  assert.match(await text(page), /SpO2 Guard/);
  await page.screenshot({ path: RESULTS + 'directory-vi.png', fullPage: true });
  // The product page shows the risk class and the model card.
  await submit(page, 'a.entry-name');
  assert.match(await text(page), /Phân loại rủi ro/);
  assert.match(await text(page), /Thẻ mô hình/);
  await page.screenshot({ path: RESULTS + 'product-vi.png', fullPage: true });
});

test('a vendor registers a product, a reviewer publishes and classifies it, the public finds it', { timeout: TEST_TIMEOUT }, async (t) => {
  const name = `E2E Sàng lọc ${Date.now()}`;
  const vendor = await newPage(t);
  await login(vendor, 'vendor');
  await goto(vendor, '/vendor');
  await vendor.fill('#np-name', name);
  await vendor.selectOption('#np-area', 'tuberculosis_screening');
  await vendor.selectOption('#np-modality', 'imaging');
  await vendor.selectOption('#np-kind', 'locked');
  await submit(vendor, '#new-product button[type=submit]');
  // A version with a mistake first: the message is in Vietnamese and the values stay.
  await vendor.fill('#nv-version', '1.0');
  await vendor.fill('#nv-use', 'Sàng lọc lao trên X-quang ngực cho trạm y tế');
  await vendor.fill('#nv-users', 'Bác sĩ trạm y tế');
  await vendor.fill('#nv-pop', 'Người lớn');
  await vendor.fill('#nv-training', '10.000 phim X-quang');
  await vendor.fill('#nv-perf', 'sensitivity; 0,9; 0,95; 0,97; Hà Nội');
  await vendor.fill('#nv-lim', 'Chưa thử ở trẻ em');
  await vendor.fill('#nv-plan', 'Thẩm định lại mỗi năm');
  const bad = await submit(vendor, '#new-version button[type=submit]');
  assert.equal(bad.status(), 400);
  assert.match(await text(vendor), /khoảng tin cậy phải chứa giá trị/);
  assert.equal(await vendor.inputValue('#nv-use'), 'Sàng lọc lao trên X-quang ngực cho trạm y tế');
  await vendor.fill('#nv-perf', 'sensitivity; 0,9; 0,86; 0,93; Hà Nội');
  await submit(vendor, '#new-version button[type=submit]');
  assert.match(await text(vendor), /Bản nháp/);

  const reviewer = await newPage(t);
  await login(reviewer, 'reviewer');
  await goto(reviewer, '/review');
  await submit(reviewer, `a:has-text("${name}")`);
  await submit(reviewer, 'form[action$="/publish"] button');
  await reviewer.selectOption('#c-situation', 'serious');
  await reviewer.selectOption('#c-significance', 'drive_clinical_management');
  await submit(reviewer, '#classify button[type=submit]');
  assert.equal(await reviewer.textContent('#current-class'), 'B');
  await reviewer.screenshot({ path: RESULTS + 'review-vi.png', fullPage: true });

  const visitor = await newPage(t, 'en-GB');
  await goto(visitor, '/directory?q=' + encodeURIComponent('e2e sang loc'));
  assert.match(await visitor.textContent('#dir-total'), /^1 result/);
  await submit(visitor, 'a.entry-name');
  assert.match(await text(visitor), /Medical device class \(Decree 98\/2021\)\s+B/);
});
