// The upload screen's part 2, as an admin sees it, on the embedded default
// (SQLite), release build, headless Chromium. Prints:
//  - pick to preview on screen for 100k rows: the browser's check, then the
//    upload, the server's check and plan, and the preview's first page;
//  - the load's rate (rows per second, from the upload's start and end) with
//    the upload's page open and following the event stream, against with no
//    page open, in the same run, two rounds each, alternating, each round on a
//    fresh server and database.
// Run: scripts/bench-preview.sh (it builds the release front end and server).
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, launchBrowser, hydrated, signIn } from '../tests/harness.mjs';

const ROWS = 100_000;

function file(prefix, rows) {
  const lines = ['userId,email,firstName,lastName,jobTitle'];
  for (let i = 0; i < rows; i++) lines.push(`${prefix}${i},${prefix}${i}@example.org,First${i},Last${i},Nurse`);
  return lines.join('\n') + '\n';
}

const browser = await launchBrowser();
const dir = mkdtempSync(join(tmpdir(), 'muster-bench-preview-'));
const previews = [];
const loads = [];
let server;
try {
  let round = 0;
  for (const watched of [false, true, false, true]) {
    // A fresh server and database each round: every load goes into an empty
    // users table, so the two ways are compared on the same work.
    server = await startServer();
    // 100,000 new users, over the demo tenant's 1,000 licences.
    server.liftLicenceLimit();
    const context = await browser.newContext();
    const page = await context.newPage();
    await signIn(page, server);
    const overview = async (id) =>
      JSON.parse(await (await page.request.post(`${server.url}/api/upload_overview`, { form: { upload_id: String(id) } })).text());
    const path = join(dir, `users-${round}.csv`);
    writeFileSync(path, file(`r${round}u`, ROWS));
    round += 1;
    await page.goto(`${server.url}/upload`);
    await hydrated(page);
    // No mail: a hundred thousand invitations would measure the outbox.
    await page.click('label[for="notify-new-users"]');
    await page.click('label[for="results-email"]');
    const picked = Date.now();
    await page.setInputFiles('[data-testid="file-input"]', path);
    await page.waitForSelector('[data-testid="facts"]', { timeout: 120_000 });
    const checked = Date.now();
    await page.click('[data-testid="send"]');
    await page.waitForSelector('[data-testid="preview-rows"]', { timeout: 300_000 });
    const shown = Date.now();
    previews.push({ check: checked - picked, server: shown - checked, total: shown - picked });
    const id = Number(page.url().match(/\/uploads\/(\d+)$/)[1]);
    await page.click('[data-testid="load"]');
    if (watched) {
      await page.waitForSelector('[data-testid="summary"]', { timeout: 600_000 });
    } else {
      // Nobody follows it: no page, no event stream.
      await page.goto('about:blank');
      for (;;) {
        const now = await overview(id);
        if (['done', 'failed'].includes(now.state)) break;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    const done = await overview(id);
    loads.push({ watched, rate: done.rate, rows: done.rows_done });
    await context.close();
    await server.stop();
    server = undefined;
  }
} finally {
  await browser.close();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
}
const best = (xs, key) => xs.reduce((a, b) => (b[key] < a[key] ? b : a));
const p = best(previews, 'total');
console.log(`| rows | browser check | send, server check and plan, first page | pick to preview on screen |`);
console.log('|---:|---:|---:|---:|');
console.log(`| ${ROWS.toLocaleString('en')} | ${(p.check / 1000).toFixed(2)} s | ${(p.server / 1000).toFixed(2)} s | ${(p.total / 1000).toFixed(2)} s |`);
console.log('');
console.log('| load of 100,000 new users | round 1 | round 2 | best |');
console.log('|---|---:|---:|---:|');
for (const watched of [false, true]) {
  const rates = loads.filter((l) => l.watched === watched).map((l) => l.rate);
  const cells = rates.map((r) => `${Math.round(r).toLocaleString('en')} rows/s`);
  console.log(`| ${watched ? 'page open, event stream connected' : 'no page open'} | ${cells.join(' | ')} | ${Math.round(Math.max(...rates)).toLocaleString('en')} rows/s |`);
}
const ratio = Math.max(...loads.filter((l) => l.watched).map((l) => l.rate)) / Math.max(...loads.filter((l) => !l.watched).map((l) => l.rate));
console.log(`\nwith the stream / without: ${ratio.toFixed(2)}`);
