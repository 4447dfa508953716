// A vitest reporter (wired in vitest.config.ts after the default one): once a run ends, each test
// file's wall time, slowest first, with the files over the per-file budget flagged. It never fails
// a run: tests do not assert speed; the budget says where the suite's minutes go. It also names
// test files that tools/test-sets.mjs does not list (.ci/run refuses those; here a warning).
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { problems } from './test-sets.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));

/** The per-file budget in seconds: HANDOFF_TEST_BUDGET_S, else 30. */
function budgetSeconds() {
  const value = Number(process.env.HANDOFF_TEST_BUDGET_S);
  return Number.isFinite(value) && value > 0 ? value : 30;
}

/** One file's wall time in ms: its import and collection, setup files, then its tests and hooks. */
export function wallTime(diagnostic) {
  return diagnostic.prepareDuration + diagnostic.collectDuration + diagnostic.setupDuration + diagnostic.duration;
}

/**
 * The report's lines for `rows` ({ file, ms, state }), slowest first; `budgetMs` flags the files
 * over it. Pure, so it is tested without a vitest run.
 */
export function formatReport(rows, budgetMs) {
  const sorted = [...rows].sort((a, b) => b.ms - a.ms || a.file.localeCompare(b.file));
  const total = sorted.reduce((sum, r) => sum + r.ms, 0);
  const over = sorted.filter((r) => r.ms > budgetMs);
  const lines = [`--- time per test file (${sorted.length} files, ${(total / 1000).toFixed(1)} s in all; budget ${budgetMs / 1000} s a file)`];
  for (const r of sorted) {
    const flag = r.ms > budgetMs ? '  OVER BUDGET' : '';
    const state = r.state === 'passed' ? '' : `  (${r.state})`;
    lines.push(`${(r.ms / 1000).toFixed(1).padStart(7)} s  ${r.file}${flag}${state}`);
  }
  lines.push(
    over.length === 0
      ? '--- every file within its budget'
      : `--- WARNING: ${over.length} file(s) over the ${budgetMs / 1000} s budget (a warning, not a failure): ${over.map((r) => r.file).join(', ')}`,
  );
  return lines;
}

export default class TimeBudgetReporter {
  onTestRunEnd(testModules) {
    const rows = [];
    for (const module of testModules) {
      const state = module.state();
      if (state === 'skipped') continue;
      rows.push({ file: relative(root, module.moduleId), ms: wallTime(module.diagnostic()), state });
    }
    if (rows.length === 0) return;
    const lines = formatReport(rows, budgetSeconds() * 1000);
    for (const problem of problems()) lines.push(`--- WARNING: ${problem}`);
    process.stdout.write(`\n${lines.join('\n')}\n`);
  }
}
