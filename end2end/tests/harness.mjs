// Starts the real Muster server on a fresh data folder and a free port, and a
// headless Debian Chromium driven by playwright-core.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { AxeBuilder } from '@axe-core/playwright';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export async function startServer(settings = {}) {
  const bin = process.env.MUSTER_BIN ?? join(root, 'target', 'release', 'muster');
  const dataDir = mkdtempSync(join(tmpdir(), 'muster-e2e-'));
  const env = {
    ...process.env,
    MUSTER_DATA_DIR: dataDir,
    MUSTER_ADDR: '127.0.0.1:0',
    MUSTER_SITE_ROOT: process.env.MUSTER_SITE_ROOT ?? join(root, 'target', 'site'),
    ...settings,
  };
  // The embedded default: a SQLite file in the fresh data folder.
  delete env.DATABASE_URL;
  const child = spawn(bin, ['serve'], {
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  const ready = new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${out}`)), 60_000);
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const url = out.match(/listening on (http:\/\/\S+)/);
      const admin = out.match(/^sign-in: tenant=demo user=(\S+) password=(\S+)$/m);
      if (url && admin) {
        clearTimeout(timer);
        resolvePromise({ url: url[1], user: admin[1], password: admin[2] });
      }
    });
    child.on('exit', (code) => reject(new Error(`server exited with ${code}:\n${out}`)));
  });
  const info = await ready;
  return {
    ...info,
    dataDir,
    /// The server's process id (benchmarks read its memory from /proc).
    pid: child.pid,
    /// Runs the same binary's command line on the same data folder (and so the
    /// same SQLite database and mail outbox) as the server.
    cli(args) {
      return spawnSync(bin, args, { env, encoding: 'utf8', timeout: 120_000 });
    },
    /// Lifts the demo tenant's 1,000 licences, for loads larger than that:
    /// tenants' limits are set on the platform admin's screen of a later
    /// stage; until then, in the server's SQLite file (python3's sqlite3:
    /// Node 20 has none).
    liftLicenceLimit() {
      const done = spawnSync('python3', ['-c', `import sqlite3,sys
c = sqlite3.connect(sys.argv[1], timeout=30)
c.execute("UPDATE tenants SET licence_limit = NULL WHERE slug = 'demo'")
c.commit()`, join(dataDir, 'muster.db')], { encoding: 'utf8' });
      if (done.status !== 0) throw new Error(`the licence limit was not lifted: ${done.stderr}`);
    },
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export async function launchBrowser() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
  console.log(`# browser: Chromium ${browser.version()} (headless, ${process.env.CHROMIUM ?? '/usr/bin/chromium'})`);
  return browser;
}

/// Resolves once the WebAssembly app has hydrated the page.
export async function hydrated(page) {
  await page.waitForSelector('body[data-hydrated="true"]', { timeout: 30_000 });
}

/// axe-core on `page` as it is now: no serious or critical violation; `where`
/// names the state in the failure.
export async function accessible(page, where) {
  const report = await new AxeBuilder({ page }).analyze();
  const bad = report.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  assert.deepEqual(bad, [], `axe, ${where}`);
}

/// Keeps, inside `page`, each text that `selector` shows as the page changes,
/// from now on. A load of a few seconds may show its steps faster than a test
/// that polls can look; this sees every step, however late the test reads it.
export async function recordTexts(page, selector) {
  await page.evaluate((selector) => {
    const seen = (window.recordedTexts ??= {});
    const list = (seen[selector] = []);
    const note = () => {
      const text = document.querySelector(selector)?.textContent;
      if (text != null && list[list.length - 1] !== text) list.push(text);
    };
    new MutationObserver(note).observe(document.documentElement, {
      subtree: true, childList: true, characterData: true, attributes: true,
    });
    note();
  }, selector);
}

/// The texts `recordTexts` kept for `selector`, in the order shown.
export async function recordedTexts(page, selector) {
  return page.evaluate((selector) => window.recordedTexts?.[selector] ?? [], selector);
}

/// Signs `page` in as the demo tenant's admin of `server`, through the form.
export async function signIn(page, server) {
  await page.goto(`${server.url}/signin`);
  await hydrated(page);
  await page.fill('input[name="tenant"]', 'demo');
  await page.fill('input[name="login"]', server.user);
  await page.fill('input[name="password"]', server.password);
  await page.click('button[type="submit"]');
  await page.waitForURL(`${server.url}/`);
}

/// The real server and a browser for the tests of one file: started before its
/// first test, stopped after its last. `server` and `browser` are set from then.
/// `settings`: environment variables of the server (`MUSTER_MAX_UPLOAD_MB`, say).
export function serverAndBrowser(settings = {}) {
  const running = {};
  before(async () => {
    running.server = await startServer(settings);
    running.browser = await launchBrowser();
  });
  after(async () => {
    await running.browser?.close();
    await running.server?.stop();
  });
  return running;
}
