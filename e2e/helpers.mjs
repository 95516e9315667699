// Shared by the browser walks: one Chromium for the file, fresh contexts per test, and the
// steps every walk takes (go to a page, submit a form, log in as a demo account).
import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const BASE = (process.env.VIGILO_BASE_URL || 'http://127.0.0.1:8080').replace(/\/+$/, '');
export const CHROMIUM = process.env.VIGILO_CHROMIUM || '/usr/bin/chromium';
export const PASSWORD = 'vigilo-demo-2026';
export const RESULTS = fileURLToPath(new URL('./test-results/', import.meta.url));
export const TEST_TIMEOUT = 120_000;

let browser;

// Registers the file's before/after hooks that start and stop Chromium.
export function useBrowser() {
  before(async () => {
    mkdirSync(RESULTS, { recursive: true });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
    });
  });
  after(async () => {
    await browser?.close();
  });
}

export async function newPage(t, locale = 'vi-VN') {
  const context = await browser.newContext({ locale, viewport: { width: 1280, height: 900 } });
  context.setDefaultTimeout(15_000);
  t.after(() => context.close());
  return context.newPage();
}

export async function goto(page, path) {
  const resp = await page.goto(BASE + path, { waitUntil: 'load' });
  assert.ok(resp && resp.status() < 400, `GET ${path} answered ${resp && resp.status()}`);
  return resp;
}

export async function submit(page, selector) {
  const [resp] = await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.click(selector)]);
  return resp;
}

export async function login(page, user) {
  await goto(page, '/login');
  await page.fill('input[name=username]', user);
  await page.fill('input[name=password]', PASSWORD);
  await submit(page, '#login-form button[type=submit]');
  assert.match(await page.textContent('#current-user'), new RegExp(user));
}

export const text = (page) => page.evaluate(() => document.body.innerText);
