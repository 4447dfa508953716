#!/usr/bin/env node
// Fails (exit 1) when a module inside packages/*/src imports itself through others: every package
// keeps its shared types and constants in leaf modules, so its modules form a tree, not a knot.
// Type-only imports count too: a cycle of types is still two modules that cannot be read apart.
// Usage: node tools/check-cycles.mjs   (run by the root `test` script)
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*['"](\.{1,2}\/[^'"]+)['"]|import\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g;

function sources(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sources(path));
    else if (/\.(ts|mts|cts)$/.test(name) && !name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

/** The `.ts` file a relative specifier (written with `.js`, as ESM wants) names, if it exists. */
function target(from, specifier) {
  const base = resolve(dirname(from), specifier);
  for (const candidate of [base.replace(/\.js$/, '.ts'), base.replace(/\.mjs$/, '.mts'), `${base}.ts`, join(base, 'index.ts')]) {
    if (existsSync(candidate) && statSync(candidate).isFile()) return candidate;
  }
  return undefined;
}

/** Every cycle of the graph, each once (Tarjan's strongly connected components with more than one module, or a self-import). */
function cycles(graph) {
  let index = 0;
  const stack = [];
  const meta = new Map();
  const found = [];
  const visit = (v) => {
    meta.set(v, { index, low: index, onStack: true });
    index++;
    stack.push(v);
    for (const w of graph.get(v) ?? []) {
      if (!meta.has(w)) {
        visit(w);
        meta.get(v).low = Math.min(meta.get(v).low, meta.get(w).low);
      } else if (meta.get(w).onStack) {
        meta.get(v).low = Math.min(meta.get(v).low, meta.get(w).index);
      }
    }
    if (meta.get(v).low === meta.get(v).index) {
      const component = [];
      let w;
      do {
        w = stack.pop();
        meta.get(w).onStack = false;
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(component);
    }
  };
  for (const v of graph.keys()) if (!meta.has(v)) visit(v);
  return found;
}

let failed = false;
const packagesDir = join(root, 'packages');
for (const pkg of readdirSync(packagesDir).sort()) {
  const src = join(packagesDir, pkg, 'src');
  if (!existsSync(src)) continue;
  const graph = new Map();
  for (const file of sources(src)) {
    const text = readFileSync(file, 'utf8');
    const edges = new Set();
    for (const match of text.matchAll(IMPORT)) {
      const to = target(file, match[1] ?? match[2]);
      if (to !== undefined) edges.add(to);
    }
    graph.set(file, [...edges]);
  }
  for (const component of cycles(graph)) {
    failed = true;
    console.error(`import cycle in packages/${pkg}/src: ${component.map((f) => relative(src, f)).sort().join(' <-> ')}`);
  }
}
if (failed) {
  console.error('Move the types or constants the modules share into a leaf module of their package (see DESIGN.md).');
  process.exit(1);
}
console.log('no import cycle in packages/*/src');
