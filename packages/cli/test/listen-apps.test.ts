// Apps shaped as real ones, through the command: each listen() of theirs is Node's own, served by
// the primary (see @handoff/worker's drop-in mode).
import { describe, expect, it } from 'vitest';
import { get, waitFor } from '../../../tools/testing/src/index.js';
import { fixture, useSandbox, type Running } from './helpers.js';

const sandbox = useSandbox();

/** The ports the primary bound for the apps, in order. */
const boundPorts = (run: Running): number[] => run.lines.filter((l) => l.event === 'listener:bound').map((l) => (l.address as { port: number }).port);
/** What the workers printed on stdout. */
const printed = (run: Running): string[] => run.lines.filter((l) => l.stream === 'stdout').map((l) => String(l.msg));

/** Fresh-connection requests to `port` until `count` different pids answered; the bodies' first words. */
async function answers(port: number, count: number): Promise<{ kinds: Set<string>; pids: Set<string> }> {
  const kinds = new Set<string>();
  const pids = new Set<string>();
  for (let i = 0; i < 20 && pids.size < count; i++) {
    const res = await get(port);
    expect(res.status).toBe(200);
    kinds.add(res.body.split(' ')[0]!);
    pids.add(/pid (\d+)/.exec(res.body)![1]!);
  }
  return { kinds, pids };
}

describe('handoff start with apps that listen as real ones do', () => {
  it('a main port and an admin server on a second port: both served by every worker, each by its own server', async () => {
    const run = await sandbox.start([fixture('main-admin.cjs'), '-w', '2', '--port', '3000:0', '--port', '3001:0']);
    await waitFor(() => printed(run).filter((l) => l.includes('listening on')).length === 4, 10_000, 20, 'both servers of both workers');
    const ports = boundPorts(run);
    expect(ports).toHaveLength(2);
    const byKind = new Map<string, number>();
    for (const port of ports) {
      const { kinds, pids } = await answers(port, 2);
      expect(kinds.size).toBe(1);
      expect(pids.size).toBe(2);
      byKind.set([...kinds][0]!, port);
    }
    expect([...byKind.keys()].sort()).toEqual(['admin', 'main']);
    // Each server's address() says its own port.
    expect(printed(run).filter((l) => l === `admin listening on ${byKind.get('admin')}`)).toHaveLength(2);
  });

  it('a main server and a helper on port 0 whose port it logs: one helper port, shared by every worker, that answers as the helper', async () => {
    const run = await sandbox.start([fixture('helper-zero.mjs'), '-w', '2', '--port', '3000:0']);
    await waitFor(() => printed(run).filter((l) => l.startsWith('helper port ')).length === 2, 10_000, 20, 'both workers to log their helper port');
    const logged = new Set(printed(run).filter((l) => l.startsWith('helper port ')).map((l) => Number(l.split(' ')[2])));
    expect(logged.size).toBe(1);
    const helperPort = [...logged][0]!;
    expect(boundPorts(run)).toContain(helperPort);
    const helper = await answers(helperPort, 2);
    expect([...helper.kinds]).toEqual(['helper']);
    expect(helper.pids.size).toBe(2);
    const main = await answers(boundPorts(run).find((p) => p !== helperPort)!, 2);
    expect([...main.kinds]).toEqual(['main']);
  });

  it('an app that closes its server on a signal of its own and listens again (a config reload): it serves the new configuration, and no worker is replaced', async () => {
    const run = await sandbox.start([fixture('reload-config.cjs'), '-w', '2', '--port', '3000:0']);
    const port = run.port;
    const before = new Set(run.workerPids);
    expect(before.size).toBe(2);
    const first = (await answers(port, 2)).pids;
    const [reloaded] = [...first];
    process.kill(Number(reloaded), 'SIGUSR2');
    await waitFor(() => printed(run).includes('reloaded to v2'), 10_000, 20, 'the app to listen again');
    // Served throughout; the reloaded worker answers with its new configuration, the other with its old one.
    const seen = new Map<string, string>();
    for (let i = 0; i < 20 && seen.size < 2; i++) {
      const res = await get(port);
      expect(res.status).toBe(200);
      const [, version, pid] = /config (v\d) pid (\d+)/.exec(res.body)!;
      seen.set(pid!, version!);
    }
    expect(seen.get(reloaded!)).toBe('v2');
    expect([...seen.values()].sort()).toEqual(['v1', 'v2']);
    expect(new Set(run.workerPids)).toEqual(before);
    expect(run.lines.some((l) => l.event === 'worker:exit')).toBe(false);
  });
});
