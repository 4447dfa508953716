/**
 * Which @handoff/fdpass addon carries connections, and why IPC where `auto` fell back: the ready line
 * and `handoff status` (text and --json) say the same. The prebuilt addon of an installed tarball is
 * package.test.ts's (it has no build/); here the workspace's own addon, and its absence.
 */
import { describe, expect, it } from 'vitest';
import { nativeStatus } from '../../fdpass/src/native.js';
import { fixture, useSandbox } from './helpers.js';

const sandbox = useSandbox();
const here = nativeStatus();

interface Addon {
  requested: string;
  transport: string;
  binary: string | null;
  reason: string | null;
  description: string;
}

describe('the addon in the ready line and handoff status', () => {
  it.skipIf(!here.available)(`names the addon that loaded${here.available ? '' : ` (skipped: the addon does not load here: ${here.reason})`}`, async () => {
    const run = await sandbox.start([fixture('whoami.cjs'), '-w', '2', '--port', '0', '--name', 'addon', '--transport', 'auto']);
    const description = here.binary === 'built' ? 'built at install' : here.binary!;
    expect(run.lines.find((l) => l.event === 'ready')).toMatchObject({ transport: 'native', addon: here.binary, transportReason: null, msg: expect.stringContaining(`transport native (${description})`) });
    const json = JSON.parse((await sandbox.cli(['status', 'addon', '--json'])).stdout) as { addon: Addon };
    expect(json.addon).toEqual({ requested: 'auto', transport: 'native', binary: here.binary, reason: null, description });
    expect((await sandbox.cli(['status', 'addon'])).stdout).toContain(`(mode primary), transport native (${description});`);
  });

  it('says why auto fell back to IPC (the addon did not load), and nothing more where IPC was asked for', async () => {
    const fell = await sandbox.start([fixture('whoami.cjs'), '-w', '1', '--port', '0', '--name', 'fell', '--transport', 'auto'], { env: { HANDOFF_FDPASS_DISABLE: '1' } });
    expect(fell.lines.find((l) => l.event === 'ready')).toMatchObject({
      transport: 'ipc',
      addon: null,
      transportReason: 'HANDOFF_FDPASS_DISABLE=1',
      msg: expect.stringContaining('transport ipc (addon not loaded: HANDOFF_FDPASS_DISABLE=1)'),
    });
    const json = JSON.parse((await sandbox.cli(['status', 'fell', '--json'])).stdout) as { addon: Addon };
    expect(json.addon).toEqual({ requested: 'auto', transport: 'ipc', binary: null, reason: 'HANDOFF_FDPASS_DISABLE=1', description: 'addon not loaded: HANDOFF_FDPASS_DISABLE=1' });
    expect((await sandbox.cli(['status', 'fell'])).stdout).toContain('(mode primary), transport ipc (addon not loaded: HANDOFF_FDPASS_DISABLE=1);');

    const asked = await sandbox.start([fixture('whoami.cjs'), '-w', '1', '--port', '0', '--name', 'asked', '--transport', 'ipc']);
    expect(asked.lines.find((l) => l.event === 'ready')).toMatchObject({ transport: 'ipc', addon: null, transportReason: null, msg: expect.stringContaining('transport ipc)') });
    expect((JSON.parse((await sandbox.cli(['status', 'asked', '--json'])).stdout) as { addon: Addon }).addon).toEqual({ requested: 'ipc', transport: 'ipc', binary: null, reason: null, description: '' });
    expect((await sandbox.cli(['status', 'asked'])).stdout).toContain('(mode primary), transport ipc;');
  });
});
