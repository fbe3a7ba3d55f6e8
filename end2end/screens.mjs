// Screenshots of the screens, at phone and desktop widths, for docs/screenshots/
// (run by hand: node screens.mjs, after a build; see the README).
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, launchBrowser, hydrated } from './tests/harness.mjs';

const out = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'docs', 'screenshots');
const server = await startServer();
const browser = await launchBrowser();
const dir = mkdtempSync(join(tmpdir(), 'muster-screens-'));
const file = join(dir, 'users.csv');
writeFileSync(
  file,
  'userId,email,firstName,lastName,Dept\npat,pat@example.org,Pat,Jones,RXX01\nbob,bob@,Bob,Smith,RXX01\n' +
    'kim,kim@example.org,,,RXX02\npat,pat2@example.org,Pat,Again,RXX01\n',
);
try {
  for (const [name, width, height] of [['desktop', 1280, 900], ['phone', 375, 812]]) {
    const context = await browser.newContext({ viewport: { width, height } });
    const page = await context.newPage();
    await page.goto(`${server.url}/signin`);
    await hydrated(page);
    await page.screenshot({ path: join(out, `signin-${name}.png`), fullPage: true });
    await page.fill('input[name="tenant"]', 'demo');
    await page.fill('input[name="login"]', server.user);
    await page.fill('input[name="password"]', server.password);
    await page.click('button[type="submit"]');
    await page.waitForURL(`${server.url}/`);
    await page.goto(`${server.url}/upload`);
    await hydrated(page);
    await page.screenshot({ path: join(out, `upload-empty-${name}.png`), fullPage: true });
    await page.setInputFiles('[data-testid="file-input"]', file);
    await page.waitForSelector('[data-testid="problem"]');
    await page.screenshot({ path: join(out, `upload-checked-${name}.png`), fullPage: true });
    await context.close();
  }
} finally {
  await browser.close();
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
