#!/usr/bin/env node
// Compiles the addon from source with the C compiler at hand against the headers of the Node.js
// that runs this script: no download, no node-gyp. Runs at install (the package's `install`
// script) and never fails it: without a compiler or headers, or off Linux, it says why and
// exits 0, and @handoff/fdpass reports `available: false` (the IPC transport serves).
//
//   node scripts/build-native.mjs            build into build/fdpass.node
//   node scripts/build-native.mjs --strict   exit 1 when it cannot build (CI, development)
//
// Where the package ships a prebuilt addon for this platform and libc (prebuilds/, made at pack
// time by scripts/build-prebuilds.mjs) that loads, it compiles nothing, unless
// HANDOFF_FDPASS_BUILD=1; --strict always compiles.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const strict = process.argv.includes('--strict');
const out = join(root, 'build', 'fdpass.node');

function skip(reason) {
  console.log(`@handoff/fdpass: native transport not built (${reason}); the IPC transport will be used`);
  process.exit(strict ? 1 : 0);
}

if (process.env.HANDOFF_FDPASS_SKIP_BUILD === '1') skip('HANDOFF_FDPASS_SKIP_BUILD=1');
if (process.platform !== 'linux') skip(`it is Linux-only; this is ${process.platform}`);

// A prebuilt addon for this platform and libc that loads: nothing to compile, unless
// HANDOFF_FDPASS_BUILD=1 asks for a build from source (which src/native.ts then loads first).
// The libc test is src/native.ts's `libc()`: musl's loader mapped into this process.
if (process.env.HANDOFF_FDPASS_BUILD !== '1' && !strict) {
  let musl = false;
  try {
    musl = /\/ld-musl-[^/\s]*\.so|\/libc\.musl-/.test(readFileSync('/proc/self/maps', 'utf8'));
  } catch {}
  const target = `${process.platform}-${process.arch}-${musl ? 'musl' : 'gnu'}`;
  const prebuilt = join(root, 'prebuilds', target, 'fdpass.node');
  if (existsSync(prebuilt)) {
    try {
      if (createRequire(import.meta.url)(prebuilt).abi === 1) {
        console.log(`@handoff/fdpass: using the prebuilt addon for ${target} (HANDOFF_FDPASS_BUILD=1 builds from source instead)`);
        process.exit(0);
      }
    } catch (error) {
      console.log(`@handoff/fdpass: the prebuilt addon for ${target} does not load (${error.message}); building from source`);
    }
  }
}

// Node's own headers: next to the binary in official builds (bin/../include/node), or where
// distributions put them.
const candidates = [join(dirname(process.execPath), '..', 'include', 'node'), '/usr/include/node', '/usr/local/include/node'];
if (process.env.HANDOFF_FDPASS_NODE_INCLUDE) candidates.unshift(process.env.HANDOFF_FDPASS_NODE_INCLUDE);
const include = candidates.find((dir) => existsSync(join(dir, 'node_api.h')) && existsSync(join(dir, 'uv.h')));
if (include === undefined) skip(`no Node.js headers (node_api.h, uv.h) in ${candidates.join(', ')}`);

const compilers = process.env.CC ? [process.env.CC] : ['cc', 'gcc', 'clang'];
const sources = readdirSync(join(root, 'native')).filter((f) => f.endsWith('.c')).map((f) => join(root, 'native', f));
const tmp = `${out}.${process.pid}.tmp`;
mkdirSync(dirname(out), { recursive: true });
let lastError = 'no C compiler found (tried ' + compilers.join(', ') + ')';
for (const cc of compilers) {
  try {
    // NAPI_VERSION 8: every Node.js >= 20 has it; nothing newer is needed.
    execFileSync(cc, ['-shared', '-fPIC', '-O2', '-std=gnu11', '-Wall', '-Wextra', '-Wno-unused-parameter', '-fvisibility=hidden', '-DNAPI_VERSION=8', `-I${include}`, '-o', tmp, ...sources], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    renameSync(tmp, out);
    console.log(`@handoff/fdpass: built ${out} with ${cc} against ${include}`);
    process.exit(0);
  } catch (error) {
    rmSync(tmp, { force: true });
    if (error.code === 'ENOENT') continue;
    lastError = `${cc} failed: ${String(error.stderr ?? error.message).trim().split('\n').slice(0, 20).join('\n')}`;
    break;
  }
}
skip(lastError);
