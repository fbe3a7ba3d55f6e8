// The upload page, step 1: an admin picks a file and the browser checks it in
// a Web Worker, line by line, before anything is sent.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serverAndBrowser, hydrated, signIn, accessible } from './harness.mjs';

const running = serverAndBrowser();
let dir;
let context;
let page;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'muster-upload-'));
});

/// A signed-in admin's page, made once the server and browser are up.
async function signedIn() {
  if (page) return page;
  context = await running.browser.newContext();
  page = await context.newPage();
  page.on('pageerror', (err) => console.log(`# page error: ${err.message}`));
  await signIn(page, running.server);
  return page;
}

after(async () => {
  await context?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/// Opens the upload page afresh and picks `bytes` as `name`.
async function pick(name, bytes) {
  await signedIn();
  await page.goto(`${running.server.url}/upload`);
  await hydrated(page);
  const path = join(dir, name);
  writeFileSync(path, bytes);
  await page.setInputFiles('[data-testid="file-input"]', path);
}

async function checked() {
  await page.waitForSelector('[data-testid="facts"]', { timeout: 30_000 });
  return {
    status: (await page.textContent('[data-testid="validation-status"]')).trim(),
    format: await page.textContent('[data-testid="format"]'),
    encoding: await page.textContent('[data-testid="encoding"]'),
    delimiter: await page.textContent('[data-testid="delimiter"]'),
    rows: Number(await page.textContent('[data-testid="rows"]')),
    errors: Number(await page.textContent('[data-testid="errors"]')),
    warnings: Number(await page.textContent('[data-testid="warnings"]')),
  };
}

async function problems() {
  await page.waitForSelector('[data-testid="problems-shown"]:not(:empty)');
  return page.$$eval('[data-testid="problem"]', (rows) =>
    rows.map((row) => ({
      line: Number(row.querySelector('[data-testid="problem-line"]').textContent),
      column: row.querySelector('[data-testid="problem-column"]').textContent,
      value: row.querySelector('[data-testid="problem-value"]').textContent,
      text: row.textContent,
    })),
  );
}

test('a valid file shows how it was read, its counts and no problems', async () => {
  await pick('good.csv', 'userId,email,firstName,lastName\npat,pat@example.org,Pat,Jones\nsam,sam@example.org,Sam,Lee\n');
  const verdict = await checked();
  assert.deepEqual(
    { ...verdict, status: undefined },
    { status: undefined, format: 'Standard', encoding: 'utf-8', delimiter: 'comma', rows: 2, errors: 0, warnings: 0 },
  );
  assert.match(verdict.status, /Checked 2 rows: no errors/);
  await accessible(page, 'a valid file checked');

  // The licence line: the demo tenant's admin holds 1 of its 1000.
  assert.equal(
    (await page.textContent('[data-testid="licences"]')).trim(),
    'Licences: 1 of 1000 in use, 999 remaining. This file has 2 rows: it needs at most 2 licences for new users.',
  );
  // The options, each with its explanation; a sync's action only for a sync.
  assert.ok(await page.isChecked('#mode-add-and-update'));
  assert.ok(await page.isDisabled('#sync-action-mark-leaver'));
  await page.check('#mode-sync');
  assert.ok(await page.isEnabled('#sync-action-mark-leaver'));
  await page.check('#sync-action-mark-leaver');
  await page.uncheck('#results-email');
  assert.match(await page.textContent('label[for="all-or-nothing"]'), /Any row error stops the whole load/);
  await accessible(page, 'options chosen');
  assert.equal(await page.locator('[data-testid="problems"]').count(), 0);
  const headings = await page.$$eval('[data-testid="headings"] tbody tr', (rows) => rows.map((r) => r.textContent));
  assert.equal(headings.length, 4);
  assert.match(headings[1], /^email\s*email/);
});

test('a file with errors shows each one with its line, column and value', async () => {
  const file = 'userId,email,firstName\npat,pat@example.org,Pat\nbob,bob@,Bob\n"multi\nline",m@example.org,M\nbob,b2@example.org,Bo\n';
  await pick('bad.csv', file);
  const verdict = await checked();
  assert.ok(verdict.errors >= 3, JSON.stringify(verdict));
  const found = await problems();
  const where = found.map((p) => [p.line, p.column, p.value]);
  assert.ok(where.some(([l, c, v]) => l === 3 && c === 'email' && v === 'bob@'), JSON.stringify(where));
  // The quoted line break moves the next rows down: the repeat of bob is on line 6.
  assert.ok(where.some(([l, c]) => l === 6 && c === 'userId'), JSON.stringify(where));
  assert.ok(found.every((p) => /Error|Warning/.test(p.text)), 'severity in words, not colour alone');
  await accessible(page, 'a file with errors checked');
  // Filtered by column.
  await page.selectOption('[data-testid="filter-column"]', 'email');
  await page.waitForFunction(() =>
    [...document.querySelectorAll('[data-testid="problem-column"]')].every((c) => c.textContent === 'email'),
  );
  assert.match(await page.textContent('[data-testid="problems-shown"]'), /of 1$/);

  // The problems as a CSV made in the browser: the file's rows, each with its problems.
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid="download-problems"]')]);
  assert.equal(download.suggestedFilename(), 'bad-problems.csv');
  const csv = readFileSync(await download.path(), 'utf8').split('\n');
  assert.equal(csv[0], 'userId,email,firstName,problem');
  assert.equal(csv[1], 'pat,pat@example.org,Pat,');
  assert.equal(csv[2], 'bob,bob@,Bob,"Line 3, email: ""bob@"" is not a valid email address"');
  assert.match(csv[5], /^bob,b2@example.org,Bo,"Line 6, userId: ""bob"" is also on line 3/);
});

test('on a phone (375 px) the checked page fits the screen, problems and headings included', async () => {
  await pick('phone.csv', 'userId,email,firstName,lastName,Department of the hospital trust\npat,pat@example.org,Pat,Jones,RXX01\nbob,bob@,Bob,Smith,RXX01\n');
  await page.setViewportSize({ width: 375, height: 812 });
  try {
    await checked();
    await page.waitForSelector('[data-testid="problem"]');
    const wide = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(wide <= 375, `the page is ${wide} px wide at 375 px`);
  } finally {
    await page.setViewportSize({ width: 1280, height: 720 });
  }
});

test('the sample files download and are read without a problem', async () => {
  await signedIn();
  await page.goto(`${running.server.url}/upload`);
  await hydrated(page);
  await accessible(page, 'the page before a file is picked');
  for (const [id, name, first, format] of [
    ['sample-standard', 'muster-users-sample.csv', /^userId,externalId,tenant,title,firstName,lastName,email,/, 'Standard'],
    ['sample-legacy', 'muster-users-sample-legacy-v1.csv', /^UserName,FullName,EmailAddress,Department,Leaver/, 'Legacy v1'],
    ['sample-entra-create', 'muster-users-sample-entra-bulk-create.csv', /^version:v1\.0\r\nName \[displayName\] Required,/, 'Microsoft Entra bulk create'],
    ['sample-entra-export', 'muster-users-sample-entra-download.csv', /^userPrincipalName,displayName,/, 'Microsoft Entra user download'],
    ['sample-google-workspace', 'muster-users-sample-google-workspace.csv', /^First Name \[Required\],Last Name \[Required\],Email Address \[Required\]/, 'Google Workspace'],
    ['sample-okta', 'muster-users-sample-okta.csv', /^login,firstName,lastName,/, 'Okta'],
    ['sample-moodle', 'muster-users-sample-moodle.csv', /^username,password,firstname,lastname,email,idnumber,/, 'Moodle'],
  ]) {
    const [download] = await Promise.all([page.waitForEvent('download'), page.click(`[data-testid="${id}"]`)]);
    assert.equal(download.suggestedFilename(), name);
    const bytes = readFileSync(await download.path());
    assert.match(bytes.toString('utf8'), first);
    await pick(name, bytes);
    const verdict = await checked();
    assert.equal(verdict.format, format, name);
    assert.equal(verdict.errors, 0, name);
    // Other systems' files have columns Muster does not use: said as warnings.
    if (['Standard', 'Legacy v1'].includes(format)) assert.equal(verdict.warnings, 0, name);
    else assert.ok(verdict.warnings >= 1, name);
  }
});

test('mapping an unknown heading to a field checks the file again with it', async () => {
  await pick('mapped.csv', 'userId,email,firstName,Dept\npat,pat@example.org,Pat,NOPE\n');
  const before = await checked();
  assert.equal(before.warnings, 1, 'the unknown heading is reported');
  assert.match(await page.textContent('[data-testid="file-problems"]'), /"Dept" is not a Muster field/);
  const row = page.locator('[data-testid="headings"] tbody tr', { hasText: 'Dept' });
  assert.match(await row.textContent(), /unknown/);
  // The choice is saved for the tenant by a request of its own: waited for,
  // so that the next page does not cut it off.
  const saved = page.waitForResponse((r) => r.url().includes('/remember_mapping') && r.request().method() === 'POST');
  await row.locator('[data-testid="map-heading"]').selectOption('organisation');
  assert.ok((await saved).ok(), 'the mapping is saved');
  // Checked again: Dept is the organisation now, and its value is checked as one.
  await page.waitForFunction(() =>
    [...document.querySelectorAll('[data-testid="headings"] tbody tr')].some(
      (r) => r.textContent.includes('Dept') && r.textContent.includes('organisation') && !r.textContent.includes('unknown'),
    ),
  );
  const after = await checked();
  assert.equal(after.warnings, 0, 'mapped, the heading is no longer unknown');

  // The next file with the same headings (tonight's HR export) gets the mapping
  // the tenant gave them, remembered on the server.
  await pick('tonight.csv', 'userId,email,firstName,Dept\nsam,sam@example.org,Sam,RXX02\n');
  await page.waitForSelector('[data-testid="remembered"]');
  await page.waitForFunction(() =>
    [...document.querySelectorAll('[data-testid="headings"] tbody tr')].some(
      (r) => r.textContent.includes('Dept') && r.textContent.includes('organisation') && !r.textContent.includes('unknown'),
    ),
  );
  assert.equal((await checked()).warnings, 0);
});

test('Legacy v1, Windows-1252 with semicolons and UTF-16 from Excel are recognised', async () => {
  await pick('legacy.csv', 'UserName,FullName,EmailAddress,Department,Leaver\nkim,"Lee, Kim",kim@example.org,RXX01,N\n');
  assert.equal((await checked()).format, 'Legacy v1');

  await pick('w1252.csv', Buffer.from('userId;email;firstName\njose;jose@example.org;Jos\u00e9\n', 'latin1'));
  const w = await checked();
  assert.deepEqual([w.encoding, w.delimiter], ['windows-1252', 'semicolon']);

  const text = 'userId\temail\tfirstName\r\nkim\tkim@example.org\tKim\r\n';
  await pick('excel.txt', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]));
  const u = await checked();
  assert.deepEqual([u.encoding, u.delimiter, u.rows], ['utf-16le', 'tab', 1]);
});

test('Cancel stops a long check', async () => {
  const rows = ['userId,email,firstName,lastName,jobTitle'];
  for (let i = 0; i < 1_200_000; i++) rows.push(`u${i},u${i}@example.org,First${i},Last${i},Nurse in charge of ward ${i % 40}`);
  await pick('large.csv', rows.join('\n'));
  // Clicked as soon as it shows: the release build checks this file in about a
  // second, so nothing (axe, say) may come between.
  await page.click('[data-testid="cancel"]');
  await page.waitForFunction(() =>
    document.querySelector('[data-testid="validation-status"]').textContent.includes('Checking cancelled'),
  );
  // The worker is gone: no verdict arrives later.
  await page.waitForTimeout(1500);
  assert.equal(await page.locator('[data-testid="facts"]').count(), 0);
  assert.equal(await page.locator('[data-testid="cancel"]').count(), 0);
  await accessible(page, 'a check cancelled');
});
