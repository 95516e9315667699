// Browser walk through the appraisal desk on the demo server: a vendor opens a dossier,
// answers an item, attaches a PDF and submits; a reviewer screens it; the public reads the
// licence register, a licence and its decision letter; the vendor reads a sandbox report.
// Run like smoke.test.mjs (VIGILO_BASE_URL, VIGILO_CHROMIUM).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BASE, RESULTS, TEST_TIMEOUT, useBrowser, newPage, goto, submit, login, text } from './helpers.mjs';

useBrowser();

test('a vendor files a dossier with evidence and a reviewer screens it', { timeout: TEST_TIMEOUT }, async (t) => {
  const vendor = await newPage(t);
  await login(vendor, 'vendor');
  await goto(vendor, '/applications');
  assert.match(await text(vendor), /HS-\d{4}-\d{6}/);
  await vendor.screenshot({ path: RESULTS + 'applications-vi.png', fullPage: true });
  // SpO2 Guard's first dossier is decided, so a new one may be opened for it.
  const option = await vendor.$eval('#o-version', (s) =>
    [...s.options].find((o) => o.textContent.includes('SpO2')).value);
  await vendor.selectOption('#o-version', option);
  await submit(vendor, '#open-application button[type=submit]');
  assert.match(await vendor.textContent('#app-state'), /Bản nháp/);
  // Answer the first item and attach a PDF.
  const first = await vendor.$('#answers select');
  await first.selectOption('met');
  await submit(vendor, '#save-answers');
  assert.match(await text(vendor), /Đã lưu câu trả lời/);
  await vendor.setInputFiles('#u-file', {
    name: 'bao-cao-lam-sang.pdf', mimeType: 'application/pdf', buffer: Buffer.from('%PDF-1.7\n% demo evidence\n'),
  });
  await submit(vendor, '#upload button[type=submit]');
  assert.match(await text(vendor), /bao-cao-lam-sang\.pdf/);
  await submit(vendor, '#do-submit');
  assert.match(await vendor.textContent('#app-state'), /Đã nộp/);
  const url = vendor.url().split('?')[0];
  await vendor.screenshot({ path: RESULTS + 'application-vendor-vi.png', fullPage: true });

  const reviewer = await newPage(t, 'en-GB');
  await login(reviewer, 'reviewer');
  await goto(reviewer, url.replace(BASE, ''));
  await reviewer.fill('#reason-start_screening', 'All parts present');
  await submit(reviewer, '#do-start_screening');
  assert.match(await reviewer.textContent('#app-state'), /Screening/);
  await reviewer.screenshot({ path: RESULTS + 'application-reviewer-en.png', fullPage: true });
});

test('the public reads the licence register, a licence and its decision letter', { timeout: TEST_TIMEOUT }, async (t) => {
  const page = await newPage(t);
  await goto(page, '/licences');
  assert.match(await text(page), /GP-\d{4}-\d{6}/);
  assert.match(await text(page), /Tạm đình chỉ/, 'the suspended demo licence');
  await submit(page, '#licences a[href^="/licences/"]');
  assert.match(await text(page), /Lịch sử giấy phép/);
  await page.screenshot({ path: RESULTS + 'licence-vi.png', fullPage: true });
  await submit(page, '#letter-link');
  assert.match(await text(page), /CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM/);
  await page.screenshot({ path: RESULTS + 'letter-vi.png', fullPage: true });
  const pdf = await page.request.get(BASE + (await page.getAttribute('#letter-pdf', 'href')));
  assert.equal(pdf.status(), 200);
  assert.equal(pdf.headers()['content-type'], 'application/pdf');
});

test('the vendor reads the blind sandbox report of its breast cytology model', { timeout: TEST_TIMEOUT }, async (t) => {
  const page = await newPage(t);
  await login(page, 'vendor');
  await goto(page, '/sandbox');
  await submit(page, '#studies a[href^="/sandbox/studies/"]');
  assert.match(await text(page), /SHA-256/);
  // Both the predictions file and the ONNX model (run by the sandbox worker) were evaluated.
  assert.match(await text(page), /onnx/);
  assert.match(await text(page), /predictions/);
  await submit(page, '#submissions a[href^="/sandbox/submissions/"]');
  assert.ok(await page.$('svg'), 'the ROC curve is drawn');
  assert.match(await text(page), /AUROC/);
  await page.screenshot({ path: RESULTS + 'sandbox-report-vi.png', fullPage: true });
});
