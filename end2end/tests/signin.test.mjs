import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverAndBrowser, hydrated, signIn } from './harness.mjs';

const running = serverAndBrowser();

test('the sign-in page is rendered by the server before any script runs', async () => {
  const context = await running.browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  const response = await page.goto(`${running.server.url}/`);
  assert.equal(new URL(page.url()).pathname, '/signin');
  assert.equal(response.status(), 200);
  assert.ok(await page.isVisible('form[action="/api/sign_in"]'));
  await context.close();
});

test('an admin signs in, the page hydrates and reacts, and signs out', async () => {
  const context = await running.browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (err) => errors.push(err.message));

  await page.goto(`${running.server.url}/signin`);
  await hydrated(page);

  // Only the hydrated app changes the input's type when the box is ticked.
  const password = page.locator('input[name="password"]');
  assert.equal(await password.getAttribute('type'), 'password');
  await page.check('[data-testid="show-password"]');
  await page.waitForFunction(() => document.querySelector('input[name="password"]').type === 'text');

  // Wrong password first: the message says so and nothing else happens.
  await page.fill('input[name="tenant"]', 'demo');
  await page.fill('input[name="login"]', running.server.user);
  await page.fill('input[name="password"]', 'not-the-password');
  await page.click('button[type="submit"]');
  await page.waitForSelector('.error[role="alert"]');
  assert.match(await page.textContent('.error'), /tenant, user ID or password is not correct/);
  assert.equal(new URL(page.url()).pathname, '/signin');

  await page.fill('input[name="password"]', running.server.password);
  await page.click('button[type="submit"]');
  await page.waitForURL(`${running.server.url}/`);
  await page.waitForSelector('h1:has-text("Welcome, Demo Admin")');
  assert.match(await page.textContent('[data-testid="who"]'), /Demo Organisation/);
  const nav = await page.locator('nav.sidebar a').allTextContents();
  assert.deepEqual(nav, ['Users', 'Upload', 'Uploads', 'Roles', 'Groups', 'Organisations', 'Audit']);

  // The bell opens its panel on click: an event handler of the hydrated app.
  await hydrated(page);
  assert.equal(await page.locator('[data-testid="bell-panel"]').count(), 0);
  await page.click('[data-testid="bell"]');
  await page.waitForSelector('[data-testid="bell-panel"]');
  assert.match(await page.textContent('[data-testid="bell-panel"]'), /No notifications yet/);

  // Client-side navigation keeps the layout and shows the page.
  await page.click('nav.sidebar a:has-text("Roles")');
  await page.waitForSelector('h1:has-text("Roles")');

  await page.click('[data-testid="sign-out"]');
  await page.waitForURL(`${running.server.url}/signin`);
  await page.goto(`${running.server.url}/users`);
  assert.equal(new URL(page.url()).pathname, '/signin', 'the session is gone after signing out');
  assert.deepEqual(errors, []);
  await context.close();
});

test('an unknown address shows the 404 page', async () => {
  const context = await running.browser.newContext();
  const page = await context.newPage();
  await signIn(page, running.server);
  const response = await page.goto(`${running.server.url}/no-such-page`);
  assert.equal(response.status(), 404);
  assert.ok(await page.isVisible('h1:has-text("Page not found")'));
  await context.close();
});
