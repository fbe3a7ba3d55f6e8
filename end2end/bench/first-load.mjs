// The first page load (issue 23): the bytes the browser fetches for the front
// end (WebAssembly, its JS glue, the CSS) and the time from navigation to a
// hydrated sign-in page on a throttled connection, with an empty cache and
// again with a warm one. Two servers in the same run: the build as served
// (precompressed, versioned, cached for a year) and the same files served as
// they were before (plain `pkg/`, uncompressed, no cache headers).
// Run: scripts/bench-first-load.sh (it builds the release server and front end).
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launchBrowser, startServer } from '../tests/harness.mjs';

// Chromium's network emulation: a slow 4G link.
const LINK = { offline: false, latency: 150, downloadThroughput: (1.6e6 / 8), uploadThroughput: (750e3 / 8) };
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const site = process.env.MUSTER_SITE_ROOT;

/// A copy of the site as it was served before: `pkg/` without the versioned
/// folder, so the pages load `/pkg/muster.js` and nothing is precompressed.
function plainSite() {
  const dir = mkdtempSync(join(tmpdir(), 'muster-plain-site-'));
  mkdirPkg(dir);
  return dir;
}
function mkdirPkg(dir) {
  mkdirSync(join(dir, 'pkg'));
  for (const name of readdirSync(join(site, 'pkg'))) {
    const from = join(site, 'pkg', name);
    if (statSync(from).isFile() && name !== 'current') cpSync(from, join(dir, 'pkg', name));
  }
}

async function load(browser, url, context) {
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions', LINK);
  const sizes = new Map();
  const urls = new Map();
  cdp.on('Network.requestWillBeSent', (e) => urls.set(e.requestId, e.request.url));
  cdp.on('Network.loadingFinished', (e) => sizes.set(e.requestId, e.encodedDataLength));
  const started = Date.now();
  await page.goto(`${url}/signin`);
  await page.waitForSelector('body[data-hydrated="true"]', { timeout: 120_000 });
  const ms = Date.now() - started;
  await page.waitForTimeout(200);
  let front = 0;
  for (const [id, bytes] of sizes) {
    if (/\/pkg\//.test(urls.get(id) ?? '')) front += bytes;
  }
  await page.close();
  return { ms, front };
}

const plain = plainSite();
const results = {};
try {
  for (const [name, root] of [['versioned, precompressed, kept a year', site], ['plain pkg/: uncompressed, revalidated', plain]]) {
    const server = await startServer({ MUSTER_SITE_ROOT: root });
    const browser = await launchBrowser();
    try {
      const runs = [];
      for (let round = 0; round < ROUNDS; round++) {
        const context = await browser.newContext();
        const cold = await load(browser, server.url, context);
        const warm = await load(browser, server.url, context);
        await context.close();
        runs.push({ cold, warm });
      }
      results[name] = runs;
    } finally {
      await browser.close();
      await server.stop();
    }
  }
} finally {
  rmSync(plain, { recursive: true, force: true });
}

const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const kb = (b) => `${(b / 1024).toFixed(0)} KB`;
console.log(`link: ${LINK.downloadThroughput * 8 / 1e6} Mbit/s down, ${LINK.uploadThroughput * 8 / 1e3} kbit/s up, ${LINK.latency} ms round trip; ${ROUNDS} rounds each, medians`);
console.log('| front end | fetched, empty cache | to hydrated, empty cache | fetched, warm cache | to hydrated, warm cache |');
console.log('|---|---:|---:|---:|---:|');
for (const [name, runs] of Object.entries(results)) {
  console.log(`| ${name} | ${kb(median(runs.map((r) => r.cold.front)))} | ${median(runs.map((r) => r.cold.ms))} ms | ${kb(median(runs.map((r) => r.warm.front)))} | ${median(runs.map((r) => r.warm.ms))} ms |`);
}
