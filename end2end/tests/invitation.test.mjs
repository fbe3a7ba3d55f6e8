import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { serverAndBrowser, hydrated } from './harness.mjs';

const running = serverAndBrowser();

/// The invitation link mailed to `address`, as a path on this server: the mail
/// was written to the outbox by a load from the command line.
function invitationPath(address) {
  const outbox = join(running.server.dataDir, 'outbox');
  for (const name of readdirSync(outbox)) {
    // Undo quoted-printable soft line breaks before looking for the link.
    const mail = readFileSync(join(outbox, name), 'utf8').replace(/=\r?\n/g, '');
    if (mail.includes(`To: ${address}`)) {
      const link = mail.match(/\/invitation\/([0-9a-f]{80})(?![0-9a-f])/);
      assert.ok(link, `a link in the mail to ${address}:\n${mail}`);
      return link[0];
    }
  }
  assert.fail(`no mail to ${address} in ${outbox}`);
}

test('a new user opens the invitation link, chooses a password once, and signs in with it', async () => {
  const file = join(running.server.dataDir, 'new-users.csv');
  writeFileSync(file, 'userId,email,firstName,lastName\nnia,nia@example.com,Nia,Newcomer\n');
  const loaded = running.server.cli(['import', file, '--tenant', 'demo']);
  assert.equal(loaded.status, 0, `${loaded.stdout}\n${loaded.stderr}`);
  assert.match(loaded.stdout, /1 added/);
  const path = invitationPath('nia@example.com');

  const context = await running.browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (err) => errors.push(err.message));
  // No session: the link alone opens the page.
  await page.goto(`${running.server.url}${path}`);
  assert.equal(new URL(page.url()).pathname, path);
  await hydrated(page);
  await page.waitForSelector('h2:has-text("Welcome, Nia")');

  await page.fill('input[name="password"]', 'first choice 2026');
  await page.fill('input[name="repeat"]', 'first choice 2027');
  await page.click('button[type="submit"]');
  await page.waitForSelector('.error[role="alert"]');
  assert.match(await page.textContent('.error'), /two passwords differ/);

  // Long enough for the browser's own check (minlength), not for the policy.
  await page.fill('input[name="password"]', 'no digits in here');
  await page.fill('input[name="repeat"]', 'no digits in here');
  await page.click('button[type="submit"]');
  await page.waitForFunction(() => /letter and one digit/.test(document.querySelector('.error')?.textContent ?? ''));

  await page.fill('input[name="password"]', 'first choice 2026');
  await page.fill('input[name="repeat"]', 'first choice 2026');
  await page.click('button[type="submit"]');
  await page.waitForSelector('[data-testid="password-set"]');
  assert.match(await page.textContent('[data-testid="password-set"]'), /tenant demo and the user ID nia/);

  // The link worked once.
  await page.goto(`${running.server.url}${path}`);
  await hydrated(page);
  await page.waitForSelector('h2:has-text("This link cannot be used")');
  assert.match(await page.textContent('.error'), /already been used/);

  await page.goto(`${running.server.url}/signin`);
  await hydrated(page);
  await page.fill('input[name="tenant"]', 'demo');
  await page.fill('input[name="login"]', 'nia');
  await page.fill('input[name="password"]', 'first choice 2026');
  await page.click('button[type="submit"]');
  await page.waitForURL(`${running.server.url}/`);
  await page.waitForSelector('h1:has-text("Welcome, Nia Newcomer")');
  assert.deepEqual(await page.locator('nav.sidebar a').allTextContents(), [], 'a user manages no one');
  assert.deepEqual(errors, []);
  await context.close();
});

test('an invitation link that is not valid says so, without a session', async () => {
  const context = await running.browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  const response = await page.goto(`${running.server.url}/invitation/${'0'.repeat(64)}`);
  assert.equal(response.status(), 200);
  assert.match(await page.textContent('main'), /This invitation link is not valid/);
  await context.close();
});
