// The upload page's validator: a module Web Worker that runs the import engine
// (the same Rust the server runs, in a WebAssembly module of its own) off the
// page's thread. The page posts the picked File and the heading mapping; the
// worker reads the file in slices (reporting progress), validates it, keeps
// the problems and answers with the summary and, on request, one filtered
// page of problems at a time, so the page never holds a million of them.
import init, { validate_users_file, problems_csv } from './muster_worker.js';

const ready = init({ module_or_path: new URL('./muster_worker_bg.wasm', import.meta.url) });
const SLICE = 4 << 20;

let problems = [];
// The checked file and its mapping, for the problems CSV.
let checked = null;
// The problems CSV made last, as an object URL.
let lastUrl = null;

async function readAll(file, job) {
  const bytes = new Uint8Array(file.size);
  for (let at = 0; at < file.size; at += SLICE) {
    const part = new Uint8Array(await file.slice(at, at + SLICE).arrayBuffer());
    bytes.set(part, at);
    postMessage({ job, kind: 'progress', read: at + part.length, total: file.size });
  }
  return bytes;
}

function flatten(verdict) {
  const out = [];
  for (const line of verdict.problems ?? []) {
    for (const d of line.diagnostics) {
      out.push({
        line: d.line ?? line.line,
        severity: d.severity,
        column: d.column ?? '',
        value: d.value ?? '',
        message: d.message,
      });
    }
  }
  return out;
}

function page({ job, from, size, severity, column }) {
  const matching = problems.filter(
    (p) => (!severity || p.severity === severity) && (!column || p.column === column),
  );
  postMessage({ job, kind: 'page', from, total: matching.length, items: matching.slice(from, from + size) });
}

async function validate({ job, file, mapping }) {
  await ready;
  const bytes = await readAll(file, job);
  postMessage({ job, kind: 'validating' });
  const started = performance.now();
  const verdict = JSON.parse(validate_users_file(bytes, undefined, mapping ? JSON.stringify(mapping) : undefined));
  if (verdict.error) {
    postMessage({ job, kind: 'failed', message: verdict.error });
    return;
  }
  problems = flatten(verdict);
  checked = { bytes, mapping, name: file.name };
  const fileErrors = verdict.file_diagnostics.filter((d) => d.severity === 'error').length;
  const errors = problems.filter((p) => p.severity === 'error').length + fileErrors;
  const warnings = problems.length + verdict.file_diagnostics.length - errors;
  postMessage({
    job,
    kind: 'verdict',
    millis: performance.now() - started,
    summary: {
      format: verdict.format,
      encoding: verdict.encoding,
      delimiter: verdict.delimiter,
      rows: verdict.rows,
      rows_with_errors: verdict.rows_with_errors,
      errors,
      warnings,
      file_diagnostics: verdict.file_diagnostics,
      headings: verdict.headings,
      columns: [...new Set(problems.map((p) => p.column).filter((c) => c))],
      problems: problems.length,
    },
  });
}

/// The checked file with a `problem` column, as a link the page can follow.
function problemsFile({ job }) {
  if (!checked) return;
  const csv = problems_csv(checked.bytes, checked.mapping ? JSON.stringify(checked.mapping) : undefined);
  // One file at a time: the one made before is freed.
  if (lastUrl) URL.revokeObjectURL(lastUrl);
  const url = URL.createObjectURL(new Blob([csv], { type: 'text/csv' }));
  lastUrl = url;
  const stem = checked.name.replace(/\.[^.]*$/, '');
  postMessage({ job, kind: 'file', url, name: `${stem}-problems.csv` });
}

onmessage = ({ data }) => {
  const work =
    data.kind === 'page'
      ? Promise.resolve(page(data))
      : data.kind === 'problems-csv'
        ? Promise.resolve(problemsFile(data))
        : validate(data);
  work.catch((err) => postMessage({ job: data.job, kind: 'failed', message: String(err?.message ?? err) }));
};
