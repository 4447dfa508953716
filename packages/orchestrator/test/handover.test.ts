import { readlinkSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestPrimary, type TestPrimary } from '../../../tools/testing/src/index.js';

// primary.listeningSockets(): what an upgrade hands a new primary (see packages/cli/src/upgrade.ts).

const listenApp = fileURLToPath(new URL('./fixtures/listen-3999.mjs', import.meta.url));

let current: TestPrimary | undefined;
afterEach(async () => {
  await current?.[Symbol.asyncDispose]();
  current = undefined;
});

describe('listeningSockets()', () => {
  it.each(['native', 'ipc'] as const)('transport %s: names each drop-in listener by the app port it serves, with an open descriptor of its socket; none once closed', async (transport) => {
    current = await startTestPrimary({ worker: listenApp, workers: 1, transport, dropIn: { host: '127.0.0.1', ports: { 3999: 0 } }, listen: undefined });
    const { primary } = current;
    const [socket, ...others] = primary.listeningSockets();
    expect(others).toEqual([]);
    expect(socket!.app).toEqual({ port: 3999 });
    expect(socket!.address).toEqual(primary.addresses()[0]);
    // The native acceptor closed Node's own descriptor: this is its duplicate, a socket.
    expect(readlinkSync(`/proc/self/fd/${socket!.fd}`)).toMatch(/^socket:\[\d+\]$/);
    await primary.close();
    expect(primary.listeningSockets()).toEqual([]);
  });
});
