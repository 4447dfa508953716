#!/usr/bin/env node
// Builds the prebuilt addons that ship in the package (prebuilds/<target>/fdpass.node), one per
// target, each for every Node >= 20 (N-API 8, libuv, no V8 API), with the cross toolchains of
// Debian at hand: `cc` for linux-x64-gnu, `musl-gcc` (apt musl-tools) for linux-x64-musl,
// `aarch64-linux-gnu-gcc` (apt gcc-aarch64-linux-gnu) for linux-arm64-gnu, and for linux-arm64-musl
// the same compiler with musl's arm64 headers, crt files and libc.so: `aarch64-linux-musl-gcc`, the
// musl-gcc wrapper (a specs file) that Debian's arm64 musl-dev ships, installed by multiarch
// (`dpkg --add-architecture arm64`, apt musl-dev:arm64; it runs the amd64 cross gcc). Runs at
// pack time (`prepack`) and in CI; a target whose compiler is missing is skipped with its reason,
// and `--strict` makes that an error.
//
//   node scripts/build-prebuilds.mjs [--strict] [--out DIR] [TARGET…]
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const strict = args.includes('--strict');
const outAt = args.indexOf('--out');
const out = outAt === -1 ? join(root, 'prebuilds') : args[outAt + 1];
const asked = args.filter((a, i) => !a.startsWith('--') && (outAt === -1 || i !== outAt + 1));

/** Each target: its compiler (the first found), and the flags that only it needs. */
const TARGETS = {
  'linux-x64-gnu': { cc: [process.env.CC_LINUX_X64_GNU, 'x86_64-linux-gnu-gcc', ...(process.arch === 'x64' ? ['cc', 'gcc'] : [])], host: 'x64' },
  'linux-x64-musl': { cc: [process.env.CC_LINUX_X64_MUSL, 'musl-gcc', 'x86_64-linux-musl-gcc'], host: 'x64' },
  // apt gcc-aarch64-linux-gnu (with libc6-dev-arm64-cross): Node's headers are the same on every arch.
  'linux-arm64-gnu': { cc: [process.env.CC_LINUX_ARM64_GNU, 'aarch64-linux-gnu-gcc'], host: 'arm64' },
  // apt musl-dev:arm64 (multiarch): /usr/bin/aarch64-linux-musl-gcc wraps aarch64-linux-gnu-gcc.
  'linux-arm64-musl': { cc: [process.env.CC_LINUX_ARM64_MUSL, 'aarch64-linux-musl-gcc'], host: 'arm64' },
};

const candidates = [join(dirname(process.execPath), '..', 'include', 'node'), '/usr/include/node', '/usr/local/include/node'];
if (process.env.HANDOFF_FDPASS_NODE_INCLUDE) candidates.unshift(process.env.HANDOFF_FDPASS_NODE_INCLUDE);
const include = candidates.find((dir) => existsSync(join(dir, 'node_api.h')) && existsSync(join(dir, 'uv.h')));
const sources = readdirSync(join(root, 'native')).filter((f) => f.endsWith('.c')).map((f) => join(root, 'native', f));

let failed = 0;
function skip(target, reason) {
  console.log(`@handoff/fdpass: prebuilt ${target} not built (${reason})`);
  failed++;
}

for (const target of asked.length > 0 ? asked : Object.keys(TARGETS)) {
  const spec = TARGETS[target];
  if (spec === undefined) {
    skip(target, `unknown target; known: ${Object.keys(TARGETS).join(', ')}`);
    continue;
  }
  if (include === undefined) {
    skip(target, `no Node.js headers (node_api.h, uv.h) in ${candidates.join(', ')}`);
    continue;
  }
  const file = join(out, target, 'fdpass.node');
  const tmp = `${file}.${process.pid}.tmp`;
  mkdirSync(dirname(file), { recursive: true });
  let done = false;
  let why = `no compiler found (tried ${spec.cc.filter(Boolean).join(', ')})`;
  for (const cc of spec.cc.filter(Boolean)) {
    try {
      // The same flags as scripts/build-native.mjs, plus: no build id (reproducible), stripped.
      execFileSync(cc, ['-shared', '-fPIC', '-O2', '-std=gnu11', '-Wall', '-Wextra', '-Wno-unused-parameter', '-fvisibility=hidden', '-DNAPI_VERSION=8', `-I${include}`, '-Wl,--build-id=none', '-s', '-o', tmp, ...sources], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      renameSync(tmp, file);
      console.log(`@handoff/fdpass: built prebuilt ${target} with ${cc}: ${file}`);
      done = true;
      break;
    } catch (error) {
      rmSync(tmp, { force: true });
      if (error.code === 'ENOENT') continue;
      why = `${cc} failed: ${String(error.stderr ?? error.message).trim().split('\n').slice(0, 20).join('\n')}`;
      break;
    }
  }
  if (!done) skip(target, why);
}
process.exit(strict && failed > 0 ? 1 : 0);
