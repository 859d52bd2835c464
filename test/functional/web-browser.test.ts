/**
 * The web client in a real browser: Debian's headless Chromium driven by
 * puppeteer-core (nothing downloaded), trusting the server's self-made certificate
 * by its public key pin only. A phone-sized page logs in, uploads through its file
 * input, lists the file with its SHA-256, downloads it intact; wrong passwords and
 * banned addresses get their own messages. The phone screenshot is kept in
 * test-artifacts/ (FERRY_TEST_ARTIFACTS elsewhere).
 */

import type { ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { sha256, tempDir } from '../helpers/files.js';
import { eventually, withTools } from '../helpers/tools.js';
import { startProxy } from '../helpers/proxy.js';
import { WEB_ADMIN, startWebServer, type WebTestServer } from '../helpers/web.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = resolve(process.env.FERRY_TEST_ARTIFACTS ?? 'test-artifacts');
const PHONE = { width: 390, height: 844, isMobile: true, hasTouch: true, deviceScaleFactor: 1 };

async function launch(t: ExecutionContext, server: WebTestServer): Promise<Browser> {
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    userDataDir: await tempDir(t, 'ferry-chromium-'),
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      // Trusts this server's key alone, as a user who checked the fingerprint would.
      `--ignore-certificate-errors-spki-list=${server.spki}`,
    ],
  });
  t.teardown(() => browser.close());
  return browser;
}

async function openPage(browser: Browser, server: WebTestServer, origin = server.origin): Promise<Page> {
  const page = await browser.newPage();
  await page.setViewport(PHONE);
  await page.goto(`${origin}/`, { waitUntil: 'load' });
  await page.waitForSelector('#login:not([hidden])', { timeout: 30_000 });
  return page;
}

async function logIn(page: Page, user: string, password: string): Promise<void> {
  await page.evaluate("document.getElementById('user').value = ''; document.getElementById('password').value = ''");
  await page.type('#user', user);
  await page.type('#password', password);
  await page.click('#login button[type="submit"]');
}

async function loginMessage(page: Page, previous = ''): Promise<string> {
  await page.waitForFunction(`(document.getElementById('login-error').textContent || '') !== '' && document.getElementById('login-error').textContent !== ${JSON.stringify(previous)}`, { timeout: 30_000 });
  return page.$eval('#login-error', (node) => node.textContent ?? '');
}

withTools('chromium')('in Chromium at phone size: log in, upload through the file input, a folder and a drop, see them listed with their SHA-256, download intact, make, rename and delete', async (t) => {
  const server = await startWebServer(t);
  const browser = await launch(t, server);
  const page = await openPage(browser, server);
  await logIn(page, WEB_ADMIN.user, WEB_ADMIN.password);
  await page.waitForSelector('#files:not([hidden])', { timeout: 30_000 });

  const local = await tempDir(t, 'ferry-browser-files-');
  const photo = join(local, 'holiday photo.jpg');
  const content = randomBytes(3 * 1024 * 1024 + 17);
  await writeFile(photo, content);
  const expected = sha256(content);
  await writeFile(join(local, 'notes.txt'), 'packing list\n');
  await mkdir(join(server.filesDir, 'Camera'));

  const input = await page.$('#pick-files');
  if (!input) throw new Error('no file input on the page');
  await input.uploadFile(photo, join(local, 'notes.txt'));
  await page.waitForFunction(`document.querySelectorAll('#uploads li[data-state="done"]').length === 2`, { timeout: 60_000 });
  const rows = await page.$$eval('#uploads li', (items) => items.map((item) => item.textContent ?? ''));
  t.true(rows.some((row) => row.includes('holiday photo.jpg') && row.includes('SHA-256 verified') && row.includes(expected)), rows.join('\n'));

  const row = await page.waitForSelector('#entries li[data-name="holiday photo.jpg"]', { timeout: 30_000 });
  if (!row) throw new Error('the uploaded file is not listed');
  await page.waitForFunction(`(document.querySelector('#entries li[data-name="holiday photo.jpg"] .sha')?.textContent || '').includes(${JSON.stringify(expected)})`, { timeout: 30_000 });

  await mkdir(ARTIFACTS, { recursive: true });
  const shot = join(ARTIFACTS, 'web-phone.png');
  await page.screenshot({ path: shot as `${string}.png` });
  t.log(`phone screenshot: ${shot}`);
  // Nothing sticks out sideways at phone width.
  t.true(await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth'));

  // A folder through the folder picker keeps its tree.
  const album = join(local, 'Album');
  await mkdir(join(album, 'Day 1'), { recursive: true });
  await writeFile(join(album, 'cover.txt'), 'cover');
  await writeFile(join(album, 'Day 1', 'beach.txt'), 'sand');
  const folderInput = await page.$('#pick-folder');
  if (!folderInput) throw new Error('no folder input on the page');
  await folderInput.uploadFile(album);
  await page.waitForFunction(`document.querySelectorAll('#uploads li[data-state="done"]').length === 4`, { timeout: 60_000 });
  t.is(await readFile(join(server.filesDir, 'Album', 'Day 1', 'beach.txt'), 'utf8'), 'sand');
  t.is(await readFile(join(server.filesDir, 'Album', 'cover.txt'), 'utf8'), 'cover');

  // Files dropped on the page upload too.
  await page.evaluate(`(() => {
    const transfer = new DataTransfer();
    transfer.items.add(new File(['dropped bytes'], 'dropped.txt'));
    document.getElementById('drop').dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
  })()`);
  await page.waitForSelector('#entries li[data-name="dropped.txt"]', { timeout: 60_000 });
  t.is(await readFile(join(server.filesDir, 'dropped.txt'), 'utf8'), 'dropped bytes');

  const downloads = await tempDir(t, 'ferry-browser-downloads-');
  const cdp = await page.createCDPSession();
  await cdp.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: downloads });
  await page.click('#entries li[data-name="holiday photo.jpg"] a.name');
  const saved = await eventually(async () => {
    const names = await readdir(downloads);
    return names.includes('holiday photo.jpg') && !names.some((name) => name.endsWith('.crdownload')) ? join(downloads, 'holiday photo.jpg') : undefined;
  }, 60_000);
  t.is(sha256(await readFile(saved)), expected);

  // New folder, rename and delete answer the page's prompts.
  const answers = ['Trips', 'packing.txt'];
  page.on('dialog', (dialog) => void (dialog.type() === 'prompt' ? dialog.accept(answers.shift()) : dialog.accept()));
  await page.click('#mkdir');
  await page.waitForSelector('#entries li[data-name="Trips"]', { timeout: 30_000 });
  await page.click('#entries li[data-name="notes.txt"] .actions button:not(.delete)');
  await page.waitForSelector('#entries li[data-name="packing.txt"]', { timeout: 30_000 });
  await page.click('#entries li[data-name="dropped.txt"] .actions button.delete');
  await page.waitForFunction(`!document.querySelector('#entries li[data-name="dropped.txt"]')`, { timeout: 30_000 });
  t.deepEqual((await readdir(server.filesDir)).sort(), ['Album', 'Camera', 'Trips', 'holiday photo.jpg', 'packing.txt']);
});

withTools('chromium')('in Chromium a wrong password says so, and a banned address is told it is banned', async (t) => {
  const server = await startWebServer(t, { FERRY_BAN_THRESHOLD: '2', FERRY_ACCOUNT_BAN_THRESHOLD: '2' });
  const browser = await launch(t, server);
  const page = await openPage(browser, server);
  await logIn(page, WEB_ADMIN.user, 'not-the-password');
  const wrong = await loginMessage(page);
  t.is(wrong, 'Wrong user name or password.');
  await page.$eval('#login-error', (node) => (node.textContent = ''));
  await logIn(page, WEB_ADMIN.user, 'still-not-it');
  t.is(await loginMessage(page), 'Wrong user name or password.');
  await page.$eval('#login-error', (node) => (node.textContent = ''));
  // Banned now: even the right password is refused, with the reason and when to come back.
  await logIn(page, WEB_ADMIN.user, WEB_ADMIN.password);
  const banned = await loginMessage(page);
  t.regex(banned, /^Too many failed logins: too many failed logins .*127\.0\.0\.1.*try again after \d{4}-/);
  t.true(await page.evaluate("document.getElementById('files').hidden"));
});

withTools('chromium')('in Chromium an upload whose connection drops resumes from what the server holds and ends verified', async (t) => {
  const lines: Record<string, unknown>[] = [];
  const server = await startWebServer(t, {}, undefined, lines);
  // Every connection the browser opens is cut once 6 MiB crossed it, as a flaky Wi-Fi would.
  const proxy = await startProxy(t, server.webPort, { cuts: Array.from({ length: 40 }, () => 6 * 1024 * 1024) });
  const browser = await launch(t, server);
  const page = await openPage(browser, server, `https://127.0.0.1:${proxy.port}`);
  await logIn(page, WEB_ADMIN.user, WEB_ADMIN.password);
  await page.waitForSelector('#files:not([hidden])', { timeout: 30_000 });
  const local = await tempDir(t, 'ferry-browser-flaky-');
  const video = join(local, 'video.mp4');
  const content = randomBytes(20 * 1024 * 1024 + 5);
  await writeFile(video, content);
  const input = await page.$('#pick-files');
  if (!input) throw new Error('no file input on the page');
  await input.uploadFile(video);
  await page.waitForFunction(`document.querySelector('#uploads li[data-state="done"], #uploads li[data-state="failed"]')`, { timeout: 100_000 });
  const row = await page.$eval('#uploads li', (item) => item.textContent ?? '');
  t.regex(row, /video\.mp4 — done, SHA-256 verified/);
  t.is(sha256(await readFile(join(server.filesDir, 'video.mp4'))), sha256(content));
  const uploads = lines.filter((line) => line.event === 'transfer' && line.direction === 'upload').map((line) => line.result);
  t.true(uploads.includes('aborted'), `cut at least once: ${uploads.join(', ')}`);
  t.is(uploads.at(-1), 'ok');
});
