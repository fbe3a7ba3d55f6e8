// The bell, as an admin uses it: a load started on the upload page is
// followed from another page, its notifications counted, kept over a reload,
// and marked read.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serverAndBrowser, hydrated, signIn, recordTexts, recordedTexts, accessible } from './harness.mjs';

const running = serverAndBrowser();
const dir = mkdtempSync(join(tmpdir(), 'muster-bell-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const count = async (page) => {
  const badge = page.locator('[data-testid="bell-count"]');
  return (await badge.count()) === 0 ? 0 : Number(await badge.textContent());
};

test('the bell follows a load from another page, keeps its count over a reload, and marks read', async () => {
  const context = await running.browser.newContext();
  const page = await context.newPage();
  try {
    await signIn(page, running.server);
    assert.equal(await count(page), 0);
    assert.match(await page.getAttribute('[data-testid="bell"]', 'aria-label'), /Notifications, none unread/);
    running.server.liftLicenceLimit();

    // Enough rows that the load outlasts the page's move to /uploads several
    // times over on a busy machine (80 000 loaded in 4 s here; a run that
    // arrived late saw one progress line).
    const rows = ['userId,firstName,lastName,email'];
    for (let i = 0; i < 160_000; i++) rows.push(`b${i},Bell,Person,b${i}@example.org`);
    const path = join(dir, 'bell.csv');
    writeFileSync(path, rows.join('\n') + '\n');
    await page.goto(`${running.server.url}/upload`);
    await hydrated(page);
    await page.setInputFiles('[data-testid="file-input"]', path);
    await page.waitForSelector('[data-testid="facts"]', { timeout: 60_000 });
    await page.click('label[for="notify-new-users"]');
    await page.click('[data-testid="send"]');
    await page.waitForSelector('[data-testid="plan-counts"]', { timeout: 120_000 });
    // "Planned" arrives live on the upload's page too.
    await page.waitForFunction(() => document.querySelector('[data-testid="bell-count"]')?.textContent === '1');
    await page.click('[data-testid="load"]');

    // Elsewhere in the app: the bell's progress line moves and its count grows, with no reload.
    await page.click('a[href="/uploads"]');
    await page.waitForURL(`${running.server.url}/uploads`);
    await page.evaluate(() => { window.notReloaded = true; });
    // Each line the bell shows from here on is kept by the page itself, so the
    // test reads them once the load is over.
    await recordTexts(page, '[data-testid="bell-progress"]');
    // Planned, queued, loading, loaded, results mailed.
    await page.waitForFunction(() => document.querySelector('[data-testid="bell-count"]')?.textContent === '5', null, { timeout: 180_000 });
    const lines = await recordedTexts(page, '[data-testid="bell-progress"]');
    const moved = new Set(lines.filter((l) => !/: 0%$/.test(l) && !/: 100%$/.test(l)));
    assert.ok(moved.size >= 2, `the progress line moved: ${lines.join(' | ')}`);
    assert.equal(await page.evaluate(() => window.notReloaded), true, 'no reload');

    await page.reload();
    await hydrated(page);
    assert.equal(await count(page), 5, 'the same after a reload, from the database');
    assert.match(await page.getAttribute('[data-testid="bell"]', 'aria-label'), /Notifications, 5 unread/);

    await page.click('[data-testid="bell"]');
    await page.waitForSelector('[data-testid="bell-panel"]');
    const latest = await page.locator('[data-testid="bell-panel"] [data-testid="notification"]').allTextContents();
    assert.match(latest[0], /^Unread: The results of upload \d+ were emailed to /);
    assert.match(latest[1], /^Unread: Upload \d+ \(bell\.csv\) is loaded\. Users loaded successfully\. 160000 added/);
    await accessible(page, 'the bell, open');
    await page.locator('[data-testid="bell-panel"] .mark-read').first().click();
    await page.waitForFunction(() => document.querySelector('[data-testid="bell-count"]')?.textContent === '4');

    await page.goto(`${running.server.url}/notifications`);
    await hydrated(page);
    const all = await page.locator('[data-testid="notification-list"] [data-testid="notification"] a').allTextContents();
    assert.equal(all.length, 5);
    assert.match(all[4], /^Unread: Upload \d+ \(bell\.csv\) is checked and planned: 160000 rows\. Review it and load it\.$/);
    assert.match(all[0], /^The results of upload/, 'the one marked read says so by its words');
    await accessible(page, 'the notifications page');
    await page.click('text=Mark all read');
    await page.waitForFunction(() => !document.querySelector('[data-testid="bell-count"]'));
    assert.match(await page.textContent('.notifications .about'), /All read/);
  } finally {
    await context.close();
  }
});
