// The import engine in headless Chromium (the release WebAssembly build), on the
// files the native benchmark used, next to the raw csv crate in the same module.
// Run by scripts/bench-import.sh, which prints the native figures first.
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, launchBrowser, hydrated } from '../tests/harness.mjs';

const sizes = (process.env.SIZES ?? '10000 100000 1000000').split(/\s+/).filter(Boolean).map(Number);
const siteRoot = process.env.MUSTER_SITE_ROOT;
const nativePath = process.env.NATIVE_JSON;
const native = nativePath && existsSync(nativePath) ? JSON.parse(readFileSync(nativePath, 'utf8')) : {};

const server = await startServer();
const browser = await launchBrowser();
try {
  const page = await (await browser.newContext()).newPage();
  await page.goto(`${server.url}/signin`);
  await hydrated(page);
  // Chromium goes on compiling the module's optimised code in the background for
  // a while after start-up; on two cores that work would be timed with the
  // first file.
  await page.waitForTimeout(3000);
  // The native figures: [one core, every core]. The browser has one thread.
  console.log('     rows       MB |     wasm raw csv (r/s, MB/s) |    wasm validate (r/s, MB/s) ratio | native 1 core | browser/native 1 core | native default | browser/native default');
  for (const n of sizes) {
    const file = `/pkg/bench/users-${n}.csv`;
    if (!existsSync(join(siteRoot, file))) throw new Error(`missing ${file}: run scripts/bench-import.sh`);
    const r = await page.evaluate(async ({ file, n }) => {
      // The upload page's validator module, from the build's folder, as the worker loads it.
      const m = await import(`${document.querySelector('meta[name="muster-pkg"]').content}/muster_worker.js`);
      await m.default();
      const bytes = new Uint8Array(await (await fetch(file)).arrayBuffer());
      // One untimed run first: V8 runs a module's functions in its baseline tier
      // until they are found hot, and the first file of a page would measure that.
      const best = (f) => {
        f();
        let t = Infinity;
        // As many rounds as the native benchmark's (25, 15, 7): a fresh build's
        // module is still being optimised in the background during the first
        // small files' rounds.
        for (let i = 0; i < (n >= 1000000 ? 7 : n >= 100000 ? 15 : 25); i++) {
          const s = performance.now();
          f();
          t = Math.min(t, performance.now() - s);
        }
        return t / 1000;
      };
      let rows = 0;
      const raw = best(() => { rows = m.baseline_count_records(bytes); });
      let report;
      const validate = best(() => { report = JSON.parse(m.validate_users_file(bytes, 'bench')); });
      return { mb: bytes.length / 1e6, rows, raw, validate, validated: report.rows, errors: report.rows_with_errors };
    }, { file, n });
    if (r.rows !== n || r.validated !== n || r.errors !== 0) throw new Error(`unexpected result ${JSON.stringify(r)}`);
    const fmt = (s) => `${(n / s).toFixed(0).padStart(9)} r/s ${(r.mb / s).toFixed(0).padStart(5)} MB/s`;
    const against = (nat) => (nat ? `${(n / nat).toFixed(0).padStart(9)} r/s | ${`${(r.validate / nat).toFixed(2)}x native time`.padStart(21)}` : '          n/a |                   n/a');
    const [oneCore, everyCore] = native[n] ?? [];
    console.log(
      `${String(n).padStart(9)} ${r.mb.toFixed(1).padStart(8)} | ${fmt(r.raw).padStart(28)} | ${fmt(r.validate).padStart(28)} ${(100 * r.raw / r.validate).toFixed(0).padStart(4)}% | ` +
      `${against(oneCore)} | ${against(everyCore)}`,
    );
  }
} finally {
  await browser.close();
  await server.stop();
}
