// The upload screen, part 2, as an admin uses it: send a checked file, review
// the server's preview, load it, watch it live, and get the results.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serverAndBrowser, hydrated, signIn, recordTexts, recordedTexts, accessible } from './harness.mjs';

// A small limit, so that a file over it is quick to make.
const running = serverAndBrowser({ MUSTER_MAX_UPLOAD_MB: '5' });
let dir;
let context;
let page;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'muster-load-'));
});

after(async () => {
  await context?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function signedIn() {
  if (page) return page;
  context = await running.browser.newContext({ acceptDownloads: true });
  page = await context.newPage();
  page.on('pageerror', (err) => console.log(`# page error: ${err.message}`));
  await signIn(page, running.server);
  return page;
}

const HEADINGS = 'userId,firstName,lastName,email';
const csv = (rows) => [HEADINGS, ...rows].join('\n') + '\n';
const person = (id) => `${id},${id.split('.')[0]},Person,${id}@example.org`;

/// Picks a file on the upload page (of `on`), waits for the browser's check,
/// and applies `options` (the ids of the tick boxes or radio buttons to click).
async function pick(name, text, { on = page, click = [] } = {}) {
  await on.goto(`${running.server.url}/upload`);
  await hydrated(on);
  const path = join(dir, name);
  writeFileSync(path, text);
  await on.setInputFiles('[data-testid="file-input"]', path);
  await on.waitForSelector('[data-testid="facts"]', { timeout: 60_000 });
  for (const id of click) await on.click(`label[for="${id}"]`);
}

/// Sends the picked file; resolves on its preview, with the upload's id.
async function sendForPreview(on = page) {
  await on.click('[data-testid="send"]');
  await on.waitForURL(/\/uploads\/\d+$/, { timeout: 120_000 });
  await on.waitForSelector('[data-testid="plan-counts"]', { timeout: 60_000 });
  return Number(on.url().match(/\/uploads\/(\d+)$/)[1]);
}

async function planCounts(on = page) {
  return (await on.textContent('[data-testid="plan-counts"]')).replace(/\s+/g, ' ');
}

/// Loads the previewed upload and waits for its summary.
async function loadAndWait(on = page) {
  await on.click('[data-testid="load"]');
  await on.waitForSelector('[data-testid="summary"]', { timeout: 120_000 });
  return (await on.textContent('[data-testid="summary"]')).trim();
}

/// The results CSV of the upload on screen, downloaded through its link.
async function resultsFile() {
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid="results-csv"]')]);
  const text = readFileSync(await download.path(), 'utf8');
  const [head, ...lines] = text.trim().split(/\r?\n/);
  assert.ok(head.split(',').includes('result'), `a result column in ${head}`);
  // Each line by its userId: the file's own cells, then its result.
  return new Map(lines.map((l) => [l.split(',')[0], l]));
}

test('a checked file is sent, previewed, loaded and summarised; the results file says what became of each line', async () => {
  await signedIn();
  await pick('people.csv', csv(['ann.a', 'bob.b', 'cat.c', 'dan.d'].map(person)));
  await accessible(page, 'a checked file, ready to send');
  await sendForPreview();
  assert.match(await planCounts(), /New: 4/);
  await accessible(page, 'the preview');
  // Unticking a row skips it; from the keyboard, as a tick box is.
  await page.focus('[data-testid="tick-5"]');
  await page.keyboard.press('Space');
  assert.equal(await page.isChecked('[data-testid="tick-5"]'), false);
  await page.waitForFunction(() => document.querySelector('.tick-all small')?.textContent.startsWith('3 of 4'));
  const summary = await loadAndWait();
  assert.match(summary, /^Users loaded successfully\. 3 added, 0 updated/);
  await accessible(page, 'the summary');
  const results = await resultsFile();
  assert.match(results.get('ann.a'), /@example\.org,"?Added/);
  assert.match(results.get('cat.c'), /@example\.org,"?Added/);
  assert.match(results.get('dan.d'), /@example\.org,"?Skipped/);

  // The users are there: the same people again are unchanged, and the skipped one is new.
  await pick('people-again.csv', csv(['ann.a', 'bob.b', 'cat.c', 'dan.d'].map(person)));
  await sendForPreview();
  const counts = await planCounts();
  assert.match(counts, /New: 1/);
  assert.match(counts, /Unchanged: 3/);
  await page.click('[data-testid="cancel-upload"]');
  await page.waitForSelector('text=State: Cancelled');
});

test('Update rows show each changed field from old to new', async () => {
  await signedIn();
  await pick('renamed.csv', csv(['ann.a,Annie,Person,ann.a@example.org']));
  await sendForPreview();
  assert.match(await planCounts(), /Update: 1/);
  const change = (await page.textContent('[data-testid="preview-rows"] .changes')).replace(/\s+/g, ' ');
  assert.match(change, /firstName: ann → Annie/);
  await page.click('[data-testid="cancel-upload"]');
  await page.waitForSelector('text=State: Cancelled');
});

test('the same file from a second tab is shown as the upload already in progress', async () => {
  await signedIn();
  const text = csv(['eve.e', 'fay.f'].map(person));
  // This tab hears no events (as with a stream that dropped): it still shows
  // the preview when the upload is cancelled elsewhere, below. Its one stream
  // opens with its first page, so it is refused from the start.
  await page.route('**/events?*', (route) => route.abort());
  await pick('twice.csv', text);
  const first = await sendForPreview();
  const other = await context.newPage();
  try {
    await pick('twice.csv', text, { on: other });
    await other.click('[data-testid="send"]');
    const said = await other.waitForSelector('[data-testid="already-in-progress"]', { timeout: 60_000 });
    assert.match(await said.textContent(), new RegExp(`already upload ${first} \\(ready\\)`));
    assert.equal(await other.getAttribute('[data-testid="already-in-progress"] a', 'href'), `/uploads/${first}`);
  } finally {
    await other.close();
  }
  // Cancelled elsewhere meanwhile: a tick on this page is refused, said, and undone on screen.
  const cancelled = await page.evaluate(async (id) => {
    const response = await fetch('/api/cancel_upload', { method: 'POST', body: new URLSearchParams({ upload_id: id }) });
    return response.status;
  }, String(first));
  assert.equal(cancelled, 200);
  await page.uncheck('[data-testid="tick-2"]').catch(() => {});
  await page.waitForFunction(() => document.querySelector('[data-testid="tick-said"]')?.textContent.includes('not changed'));
  assert.match(await page.textContent('[data-testid="tick-said"]'), /^Line 2 not changed: /);
  assert.equal(await page.isChecked('[data-testid="tick-2"]'), true, 'the box shows what the server holds');
  await page.unroute('**/events?*');
  await page.reload();
  await page.waitForSelector('text=State: Cancelled');
});

test('a sync beyond the safeguard is loaded only after the second confirmation', async () => {
  await signedIn();
  // The tenant has the demo admin, ann, bob and cat: a sync naming ann marks
  // bob and cat as leavers (the admin is kept), more than the safeguard's 20%.
  await pick('sync.csv', csv([person('ann.a')]), { click: ['mode-sync', 'sync-action-mark-leaver'] });
  await sendForPreview();
  assert.match(await planCounts(), /Old: \d+/);
  assert.equal(await page.isDisabled('[data-testid="load"]'), true, 'Load waits for the confirmation');
  await accessible(page, 'a sync that needs a second confirmation');
  await page.check('[data-testid="confirm-sync"]');
  assert.equal(await page.isDisabled('[data-testid="load"]'), false);
  const summary = await loadAndWait();
  assert.match(summary, /2 leavers/);
});

test('a load is followed live without a reload, and leaving and coming back shows where it is', async () => {
  await signedIn();
  running.server.liftLicenceLimit();
  const rows = [];
  // Short rows, so that enough fit under this server's 5 MB limit for the load
  // to outlast several of the page's updates, which come every half second or
  // so: 80 000 rows loaded in 3.5 s here, and one run's page showed one step.
  for (let i = 0; i < 180_000; i++) rows.push(`b${i},B,P,b${i}@e.org`);
  // No mail: so many invitations would only fill the outbox.
  await pick('bulk.csv', csv(rows), { click: ['notify-new-users', 'results-email'] });
  const id = await sendForPreview();
  assert.match(await planCounts(), /New: 180,000/);
  // The page is marked: a reload would lose the mark.
  await page.evaluate(() => { window.notReloaded = true; });
  const detail = '[data-testid="progress-detail"]';
  await recordTexts(page, detail);
  await recordTexts(page, '[data-testid="progress-announced"][aria-live="polite"]');
  await page.click('[data-testid="load"]');
  // Rows done of total, the rate and the time left, in words.
  const rated = /\d+% · [\d,]+ of 180,000 rows · [\d,]+ rows\/s · about \d.* left/;
  const between = /^\d+% · ([\d,]+) of 180,000 rows/;
  const midway = (texts) => texts.filter((t) => !['0', '180,000', undefined].includes(t.match(between)?.[1]));
  const shown = (texts) => ({
    steps: new Set(midway(texts).map((t) => t.match(between)[1])).size,
    rate: midway(texts).some((t) => rated.test(t)),
  });
  // Until two steps between the start and the end, one of them with its rate,
  // have been shown, or the load is over: each step is kept by the page itself,
  // and this only decides when the test goes on to look at the load mid-way.
  for (const deadline = Date.now() + 180_000; Date.now() < deadline; ) {
    const { steps, rate } = shown(await recordedTexts(page, detail));
    if ((steps >= 2 && rate) || (await page.isVisible('[data-testid="summary"]'))) break;
    await page.waitForTimeout(100);
  }
  const details = await recordedTexts(page, detail);
  assert.ok(shown(details).steps >= 2, `at least two steps between 0 and the end were shown: ${details.join(' | ')}`);
  assert.ok(shown(details).rate, `a step midway shows its rate: ${details.join(' | ')}`);
  // Announced politely, in words.
  const announced = await recordedTexts(page, '[data-testid="progress-announced"][aria-live="polite"]');
  assert.ok(announced.some((a) => /^Loading: \d+% done\.$/.test(a)), announced.join(' | '));
  assert.equal(await page.evaluate(() => window.notReloaded), true, 'no reload');
  await accessible(page, 'a load in progress');
  // Away and back: the page is rendered from the database as it is now.
  await page.goto(`${running.server.url}/uploads`);
  await page.goto(`${running.server.url}/uploads/${id}`);
  // Read at once, as rendered: the live page may move on between two reads.
  const [state, value] = await page.evaluate(() => [
    document.querySelector('[data-testid="upload-state"]')?.textContent ?? '',
    document.querySelector('[data-testid="load-progress"]')?.getAttribute('value'),
  ]);
  assert.match(state, /Loading|Done/);
  // Mid-load: the rendered page already says how far it got.
  if (/Loading/.test(state)) assert.ok(Number(value) > 0, `progress rendered: ${value}`);
  await page.waitForSelector('[data-testid="summary"]', { timeout: 180_000 });
  assert.match(await page.textContent('[data-testid="summary"]'), /180000 added/);
  // The list shows it, done.
  await page.goto(`${running.server.url}/uploads`);
  await hydrated(page);
  const listed = await page.textContent(`[data-testid="uploads-list"] tr:has(a[href="/uploads/${id}"])`);
  assert.match(listed, /Done/);
  assert.match(listed, /180,000 of 180,000/);
  await accessible(page, 'the uploads list');
});

test('Retry failed rows, after their cause is fixed, loads them', async () => {
  await signedIn();
  // gus's email is ann's: that row fails.
  await pick('clash.csv', csv(['gus.g,Gus,Person,ann.a@example.org', person('hal.h')]));
  const clash = await sendForPreview();
  assert.match(await planCounts(), /Error: 1/);
  assert.match(await page.textContent('[data-testid="preview-rows"]'), /Error: will not be loaded/);
  const summary = await loadAndWait();
  assert.match(summary, /1 added.*1 row not loaded/);
  // The cause: ann's address. Ann gets another.
  await pick('ann.csv', csv(['ann.a,ann,Person,ann.elsewhere@example.org']));
  await sendForPreview();
  await loadAndWait();
  await page.goto(`${running.server.url}/uploads/${clash}`);
  await hydrated(page);
  await page.click('[data-testid="retry-failed"]');
  await page.waitForURL((url) => /\/uploads\/\d+$/.test(url.pathname) && !url.pathname.endsWith(`/${clash}`));
  await page.waitForSelector('[data-testid="plan-counts"]');
  const counts = await planCounts();
  assert.match(counts, /New: 1/);
  assert.doesNotMatch(counts, /Error/);
  assert.match(await loadAndWait(), /1 added/);
});

test('a file over the size limit gets a clear error and leaves nothing behind', async () => {
  await signedIn();
  await page.goto(`${running.server.url}/uploads`);
  await hydrated(page);
  const before = await page.locator('[data-testid="uploads-list"] tbody tr').count();
  const rows = [];
  for (let i = 0; i < 130_000; i++) rows.push(`large.${i},Large,Person,large.${i}@example.org`);
  const text = csv(rows);
  assert.ok(text.length > 5 * 1024 * 1024);
  await pick('large.csv', text);
  await page.click('[data-testid="send"]');
  const said = await page.textContent('[data-testid="send-failed"]');
  const bytes = Buffer.byteLength(text);
  const mb = (Math.ceil((bytes / 1024 / 1024) * 10) / 10).toFixed(1);
  assert.equal(said, `The file is ${mb} MB (${bytes} bytes); files up to 5 MB are accepted. Split it into smaller files, or ask for a higher limit`);
  // The server refuses it too, sent past the page's own check.
  const answer = await page.evaluate(async (body) => {
    const form = new FormData();
    form.append('choices', JSON.stringify({
      mode: 'add-and-update', sync_action: 'report', passwords: 'invite', notify_new_users: false,
      results_email: false, all_or_nothing: false, mapping: {}, browser_rows: null, browser_rows_with_errors: null,
    }));
    form.append('file', new Blob([body], { type: 'text/csv' }), 'large.csv');
    const response = await fetch('/api/send_upload', { method: 'POST', body: form, headers: { Accept: 'application/json' } });
    return { status: response.status, text: await response.text() };
  }, text);
  assert.notEqual(answer.status, 200);
  assert.match(answer.text, /files up to 5 MB are accepted/);
  await page.goto(`${running.server.url}/uploads`);
  await hydrated(page);
  assert.equal(await page.locator('[data-testid="uploads-list"] tbody tr').count(), before, 'no upload was made');
});

test('at 375 px every state of an upload fits the screen and passes axe', async () => {
  const phone = await running.browser.newContext({ viewport: { width: 375, height: 812 } });
  const small = await phone.newPage();
  try {
    await signIn(small, running.server);
    const fits = async (where) => {
      const width = await small.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(width <= 375, `${where}: the page is ${width} px wide`);
      await accessible(small, `${where} at 375 px`);
    };
    await pick('phone.csv', csv(['ivy.i', 'jon.j'].map(person).concat(['kit.k,Kit,Person,kit@'])), { on: small });
    await sendForPreview(small);
    await fits('the preview');
    await small.click('[data-testid="load"]');
    await fits('the load, just started');
    await small.waitForSelector('[data-testid="summary"]', { timeout: 120_000 });
    await fits('the summary');
    await small.goto(`${running.server.url}/uploads`);
    await hydrated(small);
    await fits('the uploads list');
  } finally {
    await phone.close();
  }
});
