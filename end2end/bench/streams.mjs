// Many admins watching while a load runs (issue 22): 500 signed-in admins of
// the demo tenant each hold an event stream open (a bounded generator of plain
// HTTP clients on loopback) while 100,000 new users load; the same load runs
// on a fresh server with no stream open, in the same run. Prints the load's
// rate both ways and their ratio, the events delivered per second, the
// longest delay from an event's commit to its delivery, and the server's peak
// memory (VmHWM) both ways. Embedded default (SQLite), release build.
// Run: scripts/bench-streams.sh (it builds the release server).
import http from 'node:http';
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { tmpdir, setPriority } from 'node:os';
import { join } from 'node:path';
import { startServer } from '../tests/harness.mjs';

const ADMINS = Number(process.env.BENCH_ADMINS ?? 500);
const ROWS = 100_000;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);

function python(db, script, args = []) {
  const done = spawnSync('python3', ['-c', script, db, ...args], { encoding: 'utf8' });
  if (done.status !== 0) throw new Error(done.stderr);
  return done.stdout;
}

/// Signs the demo admin in over HTTP; the session cookie's token.
async function signIn(server) {
  const body = new URLSearchParams({ tenant: 'demo', login: server.user, password: server.password }).toString();
  return new Promise((resolve, reject) => {
    const request = http.request(`${server.url}/api/sign_in`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) },
    }, (response) => {
      response.resume();
      const cookie = (response.headers['set-cookie'] ?? []).find((c) => c.startsWith('muster_session='));
      cookie ? resolve(cookie.split(';')[0].split('=')[1]) : reject(new Error('no session'));
    });
    request.on('error', reject);
    request.end(body);
  });
}

/// `n` more tenant admins, each with a session: copies of the demo admin's
/// user and session rows (their tokens are made here; the table holds digests).
function admins(server, token, n) {
  const tokens = Array.from({ length: n }, () => randomBytes(32).toString('hex'));
  const digests = tokens.map((t) => createHash('sha256').update(t).digest('hex'));
  python(join(server.dataDir, 'muster.db'), `import sqlite3,sys,json
c = sqlite3.connect(sys.argv[1], timeout=30)
own = sys.argv[2]; digests = json.loads(sys.argv[3])
cols = [r[1] for r in c.execute("PRAGMA table_info(users)") if r[1] != 'id']
admin = c.execute("SELECT user_id FROM sessions WHERE id = ?", (own,)).fetchone()[0]
for i, d in enumerate(digests):
    values = ", ".join({"user_id": "?", "user_id_norm": "?", "email": "?", "email_norm": "?", "external_id": "NULL", "external_id_norm": "NULL"}.get(k, k) for k in cols)
    cur = c.execute(f"INSERT INTO users ({', '.join(cols)}) SELECT {values} FROM users WHERE id = ?",
                    (f"watch{i}", f"watch{i}", f"watch{i}@example.org", f"watch{i}@example.org", admin))
    c.execute("INSERT INTO sessions (id, tenant_id, user_id, platform_admin_id, created_at, expires_at, last_seen_at) "
              "SELECT ?, tenant_id, ?, NULL, created_at, expires_at, last_seen_at FROM sessions WHERE id = ?", (d, cur.lastrowid, own))
c.commit()`, [createHash('sha256').update(token).digest('hex'), JSON.stringify(digests)]);
  return tokens;
}

/// Holds one event stream open, noting when each event id first arrived.
function watch(server, token, since, arrivals) {
  const agent = new http.Agent({ keepAlive: false });
  const request = http.get(`${server.url}/events?since=${since}`, { agent, headers: { cookie: `muster_session=${token}` } }, (response) => {
    if (response.statusCode !== 200) throw new Error(`stream refused: ${response.statusCode}`);
    let buffer = '';
    response.setEncoding('utf8');
    response.on('data', (chunk) => {
      buffer += chunk;
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const id = block.match(/^id: ?(\d+)$/m);
        if (id && /^event: ?upload$/m.test(block)) {
          arrivals.count += 1;
          const at = Date.now();
          const first = arrivals.latest.get(id[1]);
          arrivals.latest.set(id[1], first === undefined ? at : Math.max(first, at));
        }
      }
    });
  });
  request.on('error', () => {});
  return request;
}

/// CPU seconds a process has used so far (user and system), from /proc.
function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function peakMemoryMb(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(status.match(/VmHWM:\s+(\d+) kB/)[1]) / 1024;
}

async function callJson(server, token, fn, form) {
  const body = new URLSearchParams(form).toString();
  return new Promise((resolve, reject) => {
    const request = http.request(`${server.url}/api/${fn}`, {
      method: 'POST',
      headers: { cookie: `muster_session=${token}`, 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body), accept: 'application/json' },
    }, (response) => {
      let text = '';
      response.on('data', (c) => { text += c; });
      response.on('end', () => resolve(JSON.parse(text)));
    });
    request.on('error', reject);
    request.end(body);
  });
}

/// Plans and loads ROWS new users through the server's command line on its
/// database (the worker of the serving process runs it), waiting for the end.
async function load(server, token, dir, name) {
  const path = join(dir, `${name}.csv`);
  const lines = ['userId,email,firstName,lastName'];
  for (let i = 0; i < ROWS; i++) lines.push(`${name}${i},${name}${i}@example.org,F,L`);
  writeFileSync(path, lines.join('\n') + '\n');
  // Sent as the page sends it; loaded by the server's own worker.
  const form = new FormData();
  form.append('choices', JSON.stringify({
    mode: 'add-and-update', sync_action: 'report', passwords: 'invite', notify_new_users: false,
    results_email: false, all_or_nothing: false, mapping: {}, browser_rows: null, browser_rows_with_errors: null,
  }));
  form.append('file', new Blob([readFileSync(path)]), `${name}.csv`);
  const sent = await (await fetch(`${server.url}/api/send_upload`, {
    method: 'POST', body: form, headers: { cookie: `muster_session=${token}`, accept: 'application/json' },
  })).json();
  const id = sent.Planned.upload_id;
  await callJson(server, token, 'start_load', { upload_id: String(id), confirmed: 'false' });
  for (;;) {
    const now = await callJson(server, token, 'upload_overview', { upload_id: String(id) });
    if (['done', 'failed'].includes(now.state)) return now;
    await new Promise((r) => setTimeout(r, 250));
  }
}

const dir = mkdtempSync(join(tmpdir(), 'muster-bench-streams-'));
const results = { alone: [], watched: [] };
try {
  // Rounds each way, alternating, each on a fresh server: one round's noise
  // on this machine is as large as the difference measured.
  for (const watched of Array.from({ length: 2 * ROUNDS }, (_, i) => i % 2 === 1)) {
    setPriority(0);
    const server = await startServer();
    // The generator shares this machine's two cores with the server: once the
    // server has started (at the usual priority), its one thread yields to
    // it, so that what is measured is the server's cost of the streams, not
    // the clients'. (Lowering it again above needs root, as on these machines.)
    setPriority(19);
    try {
      server.liftLicenceLimit();
      const token = await signIn(server);
      const arrivals = { count: 0, latest: new Map() };
      const open = [];
      if (watched) {
        const since = (await callJson(server, token, 'bell_state', {})).cursor;
        for (const t of admins(server, token, ADMINS)) open.push(watch(server, t, since, arrivals));
        await new Promise((r) => setTimeout(r, 2000));
      }
      // BENCH_PERF=file: a CPU profile of the server during each watched load (perf record).
      const profiler = watched && process.env.BENCH_PERF
        ? spawn('perf', ['record', '-F', '499', '-g', '-p', String(server.pid), '-o', process.env.BENCH_PERF], { stdio: 'ignore' })
        : null;
      const started = Date.now();
      const serverCpu = cpuSeconds(server.pid);
      const ownCpu = process.cpuUsage();
      const done = await load(server, token, dir, watched ? 'w' : 'q');
      const seconds = (Date.now() - started) / 1000;
      const cpu = cpuSeconds(server.pid) - serverCpu;
      const generator = process.cpuUsage(ownCpu);
      const generatorCpu = (generator.user + generator.system) / 1e6;
      if (profiler) {
        profiler.kill('SIGINT');
        await new Promise((r) => profiler.on('exit', r));
      }
      await new Promise((r) => setTimeout(r, 1000));
      let delay = null;
      if (watched) {
        // Each event's commit time, as recorded, against its latest arrival at any client.
        const created = JSON.parse(python(join(server.dataDir, 'muster.db'), `import sqlite3,sys,json
c = sqlite3.connect(sys.argv[1], timeout=30)
print(json.dumps({str(i): t for i, t in c.execute("SELECT id, created_at FROM events")}))`));
        delay = 0;
        for (const [id, at] of arrivals.latest) {
          const committed = Date.parse(created[id].replace(' ', 'T').replace(/(\.\d{3})\d*/, '$1'));
          delay = Math.max(delay, at - committed);
        }
      }
      results[watched ? 'watched' : 'alone'].push({
        rate: done.rate, seconds, memory: peakMemoryMb(server.pid), events: arrivals.count, delay, cpu, generatorCpu,
      });
      for (const request of open) request.destroy();
    } finally {
      await server.stop();
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
const rates = (runs) => runs.map((r) => `${Math.round(r.rate).toLocaleString('en')} rows/s`).join(' | ');
const best = (runs) => Math.max(...runs.map((r) => r.rate));
const median = (runs) => {
  const sorted = runs.map((r) => r.rate).sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
};
const peak = (runs) => Math.round(Math.max(...runs.map((r) => r.memory)));
const rounds = Array.from({ length: ROUNDS }, (_, i) => `round ${i + 1}`).join(' | ');
console.log(`| load of ${ROWS.toLocaleString('en')} new users | ${rounds} | median | server's peak memory |`);
console.log(`|---|${'---:|'.repeat(ROUNDS + 2)}`);
console.log(`| no stream open | ${rates(results.alone)} | ${Math.round(median(results.alone)).toLocaleString('en')} rows/s | ${peak(results.alone)} MB |`);
console.log(`| ${ADMINS} admins streaming | ${rates(results.watched)} | ${Math.round(median(results.watched)).toLocaleString('en')} rows/s | ${peak(results.watched)} MB |`);
console.log('');
console.log(`slowdown with ${ADMINS} streams, median against median: ${(100 * (1 - median(results.watched) / median(results.alone))).toFixed(1)}%; best against best: ${(100 * (1 - best(results.watched) / best(results.alone))).toFixed(1)}%`);
const cpuMedian = (runs) => {
  const sorted = runs.map((r) => r.cpu).sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
};
console.log(`server's CPU time for the load, median: ${cpuMedian(results.alone).toFixed(2)} s with no stream, ${cpuMedian(results.watched).toFixed(2)} s with ${ADMINS} streams (${(100 * (cpuMedian(results.watched) / cpuMedian(results.alone) - 1)).toFixed(1)}% more); each round alone: ${results.alone.map((r) => r.cpu.toFixed(2)).join(', ')} s; watched: ${results.watched.map((r) => r.cpu.toFixed(2)).join(', ')} s`);
console.log(`the generator's own CPU time during the watched loads: ${results.watched.map((r) => r.generatorCpu.toFixed(2)).join(', ')} s`);
for (const [round, w] of results.watched.entries()) {
  console.log(`round ${round + 1}: ${w.events.toLocaleString('en')} events delivered in ${w.seconds.toFixed(1)} s (${Math.round(w.events / w.seconds).toLocaleString('en')} a second); longest delay from an event's commit to its delivery at the last of ${ADMINS} clients: ${w.delay} ms`);
}
