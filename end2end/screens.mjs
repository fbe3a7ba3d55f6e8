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
// A file to load while the progress is photographed, over the demo tenant's licences.
server.liftLicenceLimit();
const people = (prefix, rows) => {
  const lines = ['userId,email,firstName,lastName,jobTitle'];
  for (let i = 0; i < rows; i++) lines.push(`${prefix}${i},${prefix}${i}@example.org,Alex,Person ${i},Nurse`);
  // One row with a bad email: the preview's Error, the summary's failed row.
  lines.push(`${prefix}bad,${prefix}bad@,Bad,Row,Nurse`);
  return lines.join('\n') + '\n';
};
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

    const big = join(dir, `people-${name}.csv`);
    writeFileSync(big, people(`${name}.`, 150_000));
    await page.goto(`${server.url}/upload`);
    await hydrated(page);
    await page.setInputFiles('[data-testid="file-input"]', big);
    await page.waitForSelector('[data-testid="facts"]', { timeout: 120_000 });
    await page.click('label[for="notify-new-users"]');
    await page.click('label[for="results-email"]');
    await page.click('[data-testid="send"]');
    await page.waitForSelector('[data-testid="preview-rows"]', { timeout: 300_000 });
    await page.screenshot({ path: join(out, `preview-${name}.png`), fullPage: false });
    await page.click('[data-testid="load"]');
    await page.waitForFunction(() => Number(document.querySelector('[data-testid="load-progress"]')?.getAttribute('value')) > 20_000, null, { timeout: 300_000 });
    await page.screenshot({ path: join(out, `progress-${name}.png`), fullPage: true });
    await page.waitForSelector('[data-testid="summary"]', { timeout: 600_000 });
    await page.screenshot({ path: join(out, `summary-${name}.png`), fullPage: true });
    await page.goto(`${server.url}/uploads`);
    await hydrated(page);
    await page.screenshot({ path: join(out, `uploads-${name}.png`), fullPage: true });
    await page.click('[data-testid="bell"]');
    await page.waitForSelector('[data-testid="bell-panel"]');
    await page.screenshot({ path: join(out, `bell-${name}.png`), fullPage: false });
    await context.close();
  }
} finally {
  await browser.close();
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
