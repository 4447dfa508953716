#!/usr/bin/env node
// How flaky is a test file? Runs each file given N times, each run its own `vitest run <file>`,
// under CPU load (`stress-ng --cpu K` where installed, else K busy node processes), and prints the
// failures per file. The load is started before a file's runs and stopped after them, by pid.
//
//   node tools/flaky.mjs [--runs 10] [--load 2] [--lock /tmp/handoff-heavy.lock] [--env K=V]... FILE...
//
// --lock: each file's runs (and its load) happen under `flock LOCK`, taken per file, so that other
// heavy work can go between files but never beside the load. Exit code 0 whatever failed: this
// measures; the table is the result. Run from the repository root after a build.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function parse(argv) {
  const out = { runs: 10, load: 2, lock: undefined, env: {}, files: [], one: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--runs') out.runs = Number(argv[++i]);
    else if (a === '--load') out.load = Number(argv[++i]);
    else if (a === '--lock') out.lock = argv[++i];
    else if (a === '--env') {
      const [k, ...v] = argv[++i].split('=');
      out.env[k] = v.join('=');
    } else if (a === '--one') out.one = true;
    else out.files.push(a);
  }
  if (!(out.runs >= 1) || !(out.load >= 0) || out.files.length === 0) {
    console.error('usage: node tools/flaky.mjs [--runs N] [--load K] [--lock FILE] [--env K=V]... FILE...');
    process.exit(2);
  }
  return out;
}

const hasStressNg = spawnSync('stress-ng', ['--version'], { stdio: 'ignore' }).status === 0;

/** Starts the CPU load: K busy processes (or one stress-ng with K workers). Returns how to stop it. */
function startLoad(k) {
  if (k === 0) return { what: 'none', stop: async () => {} };
  const children = hasStressNg
    ? [spawn('stress-ng', ['--cpu', String(k), '--quiet'], { stdio: 'ignore', detached: true })]
    : Array.from({ length: k }, () => spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
  const stop = async () => {
    await Promise.all(
      children.map(
        (c) =>
          new Promise((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            c.once('exit', resolve);
            // stress-ng forks its workers into its own process group: end the group by its id.
            if (hasStressNg) process.kill(-c.pid, 'SIGTERM');
            else c.kill('SIGKILL');
          }),
      ),
    );
  };
  return { what: hasStressNg ? `stress-ng --cpu ${k}` : `${k} busy node processes`, stop };
}

/** One `vitest run file` with a JSON report: whether it passed, and the names of failed tests. */
function runOnce(file, env) {
  const dir = mkdtempSync(join(tmpdir(), 'handoff-flaky-'));
  const report = join(dir, 'report.json');
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn('npx', ['vitest', 'run', file, '--reporter=json', `--outputFile=${report}`], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
    child.on('exit', (code) => {
      const ms = Date.now() - started;
      let failed = [];
      let tests = 0;
      try {
        const json = JSON.parse(readFileSync(report, 'utf8'));
        tests = json.numTotalTests;
        for (const f of json.testResults) {
          for (const t of f.assertionResults) {
            if (t.status !== 'failed') continue;
            // The assertion's first line says why: kept short, ANSI colours out.
            const why = String(t.failureMessages?.[0] ?? '').replace(/\x1b\[[0-9;]*m/g, '').split('\n').find((l) => l.trim() !== '') ?? '';
            failed.push(`${t.title}: ${why.trim().slice(0, 240)}`);
          }
        }
        if (code !== 0 && failed.length === 0) failed = [`exit ${code} (no failed test: a file-level error) ${stderr.trim().split('\n').at(-1) ?? ''}`];
      } catch {
        failed = [`exit ${code}, no report: ${stderr.trim().split('\n').slice(-2).join(' ')}`];
      }
      rmSync(dir, { recursive: true, force: true });
      resolve({ ok: code === 0 && failed.length === 0, ms, tests, failed });
    });
  });
}

/** Every run of one file, under its load; prints one JSON line. */
async function oneFile(file, runs, k, env) {
  const load = startLoad(k);
  const onSignal = () => void load.stop().then(() => process.exit(130));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const results = [];
  try {
    for (let i = 0; i < runs; i++) results.push(await runOnce(file, env));
  } finally {
    await load.stop();
  }
  const failures = results.filter((r) => !r.ok);
  console.log(JSON.stringify({ file, runs, load: load.what, failed: failures.length, seconds: results.map((r) => Math.round(r.ms / 100) / 10), why: failures.flatMap((r) => r.failed) }));
}

const options = parse(process.argv.slice(2));
if (options.one) {
  await oneFile(options.files[0], options.runs, options.load, options.env);
} else {
  const rows = [];
  for (const file of options.files) {
    const args = [process.argv[1], '--one', '--runs', String(options.runs), '--load', String(options.load), ...Object.entries(options.env).flatMap(([k, v]) => ['--env', `${k}=${v}`]), file];
    const command = options.lock === undefined ? [process.execPath, ...args] : ['flock', options.lock, process.execPath, ...args];
    const result = spawnSync(command[0], command.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    const line = result.stdout.trim().split('\n').at(-1) ?? '';
    try {
      const row = JSON.parse(line);
      rows.push(row);
      console.log(`${file}: ${row.failed}/${row.runs} failed under ${row.load} (${row.seconds.join(' ')} s)${row.why.length > 0 ? `: ${row.why.join(' | ')}` : ''}`);
    } catch {
      rows.push({ file, runs: options.runs, failed: Number.NaN, why: [`no result: ${line}`] });
      console.log(`${file}: no result (${line})`);
    }
  }
  console.log('\n--- failures per file');
  for (const r of rows) console.log(`${String(r.failed).padStart(3)} / ${r.runs}  ${r.file}`);
}
