// The browser and the server give the same verdict on the same bytes: files with
// every kind of problem, in every encoding and dialect, validated by the release
// WebAssembly module in Chromium and by the same engine natively (which reads a
// large file in parts side by side, where the browser reads it in one).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serverAndBrowser, hydrated, signIn } from './harness.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const HEADINGS = 'userId,email,firstName,lastName,jobTitle,organisation,reportsTo,roles,enabled';

// Values longer than 16 bytes, so that every line is looked at in several blocks.
const long = 'Pharmacist-in-charge of the night ward';
const mixed = [
  `\uFEFF${HEADINGS}`,
  `pat,pat@example.org,Zoë,Brontë,"Consultant, Cardiology",RXX01,,Staff|Approver,true`,
  `bob,bob@,Bob,Smith,${long},RXX01,pat,Staff,yes`,
  `tab,tab@example.org,Ta\tb,Jones,${long},RXX01,pat,Staff,1`,
  `nel,nel@example.org,"Ne\u0085l",Jones,"He said ""hi""",RXX01,pat,Staff,0`,
  `multi,multi@example.org,Mary Ann,Smith,"Line one`,
  `line two",RXX02,pat,Staff,false`,
  '',
  `PAT,pat2@example.org,Pat,Again,${long},RXX01,,Staff,true`,
  `a,a@example.org,A,A,${long},RXX01,b,Staff|Team Lead,true`,
  `b,b@example.org,B,B,${long},RXX01,a,Staff,maybe`,
  `self,self@example.org,S,S,${long},RXX01,SELF,Staff,true`,
  `"quoted id",q@example.org,Q,Q,x,RXX01,,Staff,true,extra`,
  `short,short@example.org`,
  `del,del@example.org,Ann,Jones-De\u007fl,${long},RXX01,,Staff,true`,
  `nel2,nel2@example.org,Ann,Jones-Ne\u0085l,${long},RXX01,,Staff,true`,
].join('\r\n');

function windows1252() {
  const text = ['userId;email;firstName;lastName', 'jose;jose@example.org;Jos\u00e9;Garc\u00eda', 'bad;bad@@x;Ren\u00e9e;L'].join('\n');
  return Buffer.from(text, 'latin1');
}

function utf16le() {
  const text = [HEADINGS, 'kim,kim@example.org,Kim,Nguy\u1ec5n,Nurse,RXX01,,Staff,true', 'lee,lee@x,Lee,Ó Briain,Nurse,RXX01,kim,Staff,true'].join('\n');
  return Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]);
}

// Over 256 KiB, read natively in two parts: problems on both sides of the middle,
// repeats across it and a cycle that spans it.
function large() {
  const rows = [HEADINGS];
  const n = 30_000;
  for (let i = 0; i < n; i++) {
    let email = `u${i}@example.org`;
    let first = 'Zoë';
    let manager = i > 0 ? `u${i - 1}` : `u${n - 1}`;
    if (i % 997 === 5) email = `u${i}@example`;
    if (i % 1499 === 7) first = 'Zo\u0007ë';
    if (i % 2003 === 9) email = 'u3@example.org';
    if (i % 50 !== 0) manager = '';
    const job = i % 4 === 0 ? '"Consultant, Cardiology"' : long;
    rows.push(`u${i},${email},${first},Müller,${job},RXX0${i % 3},${manager},Staff|Reader,true`);
  }
  // Every 50th row reports to the row before it (u0 to the last, which has no
  // manager): no cycle. One across the middle:
  rows.push('c1,c1@example.org,C,One,x,RXX01,c2,Staff,true');
  rows.splice(15_000, 0, 'c2,c2@example.org,C,Two,x,RXX01,c1,Staff,true');
  return Buffer.from(rows.join('\n'));
}

/// Writes each file as `<prefix><name>.csv` in the test's folder; their paths.
function written(files, prefix) {
  return Object.entries(files).map(([name, bytes]) => {
    const path = join(dir, `${prefix}${name}.csv`);
    writeFileSync(path, bytes);
    return path;
  });
}

/// The native engine's verdict on each file, as `muster validate` plans it for tenant "demo".
function nativeVerdicts(paths) {
  const run = spawnSync('cargo', ['run', '-q', '-p', 'muster-import', '--example', 'verdict', '--', 'demo', ...paths], {
    cwd: root,
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  assert.equal(run.status, 0, run.stderr);
  return run.stdout.trim().split('\n').map((line) => JSON.parse(line));
}

const running = serverAndBrowser();
let dir;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'muster-verdict-'));
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('the browser gives the verdict the server gives, on the same bytes', async () => {
  const files = { mixed: Buffer.from(mixed), windows1252: windows1252(), utf16le: utf16le(), large: large() };
  const paths = written(files, '');
  const native = nativeVerdicts(paths);

  const page = await (await running.browser.newContext()).newPage();
  await page.goto(`${running.server.url}/signin`);
  await hydrated(page);
  const inBrowser = await page.evaluate(async (all) => {
    // The upload page's validator module, from the build's folder, as the worker loads it.
    const m = await import(`${document.querySelector('meta[name="muster-pkg"]').content}/muster_worker.js`);
    await m.default();
    return all.map((bytes) => JSON.parse(m.validate_users_file(new Uint8Array(bytes), 'demo')));
  }, Object.values(files).map((bytes) => [...bytes]));

  const names = Object.keys(files);
  names.forEach((name, i) => assert.deepEqual(inBrowser[i], native[i], `${name}.csv`));

  // The verdicts are about something: each file's problems, where they are.
  const [m, w, u, l] = native;
  const lines = (v) => v.problems.map((p) => p.line);
  const messages = (v) => v.problems.flatMap((p) => p.diagnostics.map((d) => d.message));
  assert.deepEqual(lines(m), [3, 4, 5, 6, 9, 10, 11, 12, 13, 14, 15, 16]);
  for (const message of [
    'Line 3, email: "bob@" is not a valid email address',
    'Line 4, firstName: "Ta\\tb" contains the control character U+0009',
    'Line 5, firstName: "Ne\\u{85}l" contains the control character U+0085',
    'Line 9, userId: "PAT" is also on line 2; each userId may appear once in a file',
    'Line 10, reportsTo: "b" closes a reporting cycle: a (line 10) → b (line 11) → a',
    'Line 15, lastName: "Jones-De\\u{7f}l" contains the control character U+007F',
    'Line 16, lastName: "Jones-Ne\\u{85}l" contains the control character U+0085',
  ]) {
    assert.ok(messages(m).includes(message), `${message}\nnot in\n${messages(m).join('\n')}`);
  }
  assert.equal(w.delimiter, ';');
  assert.deepEqual([m.encoding, w.encoding, u.encoding], ['utf-8-bom', 'windows-1252', 'utf-16le']);
  assert.match(w.file_diagnostics[0].message, /read as Windows-1252/);
  assert.ok(messages(w).includes('Line 3, email: "bad@@x" is not a valid email address'), messages(w).join('\n'));
  assert.ok(messages(u).includes('Line 3, email: "lee@x" is not a valid email address'), messages(u).join('\n'));
  assert.equal(l.rows, 30_002);
  assert.ok(l.rows_with_errors > 60, `large file: ${l.rows_with_errors} rows with errors`);
  assert.ok(messages(l).some((s) => s.includes('closes a reporting cycle: c2 (line 15001) → c1 (line 30003) → c2')));
});

test('the upload page shows, through its worker, every problem the server finds', async () => {
  const files = { mixed: Buffer.from(mixed), large: large() };
  const paths = written(files, 'page-');
  const native = nativeVerdicts(paths);

  const page = await (await running.browser.newContext()).newPage();
  await signIn(page, running.server);
  for (const [i, path] of paths.entries()) {
    await page.goto(`${running.server.url}/upload`);
    await hydrated(page);
    await page.setInputFiles('[data-testid="file-input"]', path);
    await page.waitForSelector('[data-testid="facts"]', { timeout: 60_000 });
    const v = native[i];
    const expected = v.problems.flatMap((p) =>
      p.diagnostics.map((d) => [d.line ?? p.line, d.column ?? '', d.value ?? '', d.message].join(' | ')),
    );
    const fileErrors = v.file_diagnostics.filter((d) => d.severity === 'error').length;
    const lineErrors = v.problems.flatMap((p) => p.diagnostics).filter((d) => d.severity === 'error').length;
    assert.equal(Number(await page.textContent('[data-testid="rows"]')), v.rows, path);
    assert.equal(Number(await page.textContent('[data-testid="errors"]')), fileErrors + lineErrors, path);
    // Every page of problems, in order, as the server has them.
    const shown = [];
    for (;;) {
      await page.waitForSelector('[data-testid="problems-shown"]:not(:empty)');
      const from = shown.length;
      await page.waitForFunction((n) => (document.querySelector('[data-testid="problems-shown"]').textContent.startsWith(`Problems ${n + 1}–`)), from);
      shown.push(
        ...(await page.$$eval('[data-testid="problem"]', (rows) =>
          rows.map((r) => [...r.children].filter((_, k) => k !== 1).map((c) => c.textContent).join(' | ')),
        )),
      );
      if (await page.isDisabled('[data-testid="next-page"]')) break;
      await page.click('[data-testid="next-page"]');
    }
    assert.deepEqual(shown, expected, path);
  }
});
