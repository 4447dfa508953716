import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createPrimaryTransport, nativeStatus, type Connection, type TransportName, type WorkerLink } from '../src/index.js';
import { currentTurn, usedThisTurn } from '../src/turn.js';
import { listening, onCleanup, startWorker, TestDispatcher } from './helpers.js';

const POLL = { timeout: 20_000, interval: 20 };

/** One link's two counts, read right after a send. */
type Counts = [unacknowledged: number, beforeThisTurn: number];

/**
 * `count` connections accepted by one wake-up and sent to one worker of `transport` (its acceptor
 * paused while they connect): the link's counts after each send in that turn, then in the check
 * phase of the same loop iteration, after the turn (no poll phase in between: no ack read yet).
 */
async function oneWakeup(transport: TransportName, count: number, maxBatch?: number): Promise<{ inTurn: Counts[]; after: Counts; link: WorkerLink }> {
  const primary = createPrimaryTransport({ transport, ...(maxBatch === undefined ? {} : { maxBatch }) });
  const dispatcher = new TestDispatcher();
  const w = startWorker(primary, dispatcher);
  await w.ready;
  const server = await listening({ port: 0, host: '127.0.0.1', backlog: 511 });
  const inTurn: Counts[] = [];
  let after: Promise<Counts> | undefined;
  const acceptor = primary.listen(server, {
    listener: 0,
    onConnection: (c: Connection) => {
      dispatcher.place(c);
      inTurn.push([w.link.unacknowledged, w.link.unacknowledgedBeforeThisTurn]);
      after ??= new Promise((resolve) => setImmediate(() => resolve([w.link.unacknowledged, w.link.unacknowledgedBeforeThisTurn])));
    },
  });
  onCleanup(() => acceptor.close());
  const port = (acceptor.address as { port: number }).port;
  acceptor.pause();
  const clients: Socket[] = [];
  for (let i = 0; i < count; i++) clients.push(connect({ port, host: '127.0.0.1' }));
  onCleanup(() => clients.forEach((c) => c.destroy()));
  await Promise.all(clients.map((c) => once(c, 'connect')));
  acceptor.resume();
  await expect.poll(() => inTurn.length, POLL).toBe(count);
  const counts = await after!;
  await expect.poll(() => w.link.stats().acknowledged, POLL).toBe(count);
  expect(w.link.unacknowledgedBeforeThisTurn).toBe(0);
  return { inTurn, after: counts, link: w.link };
}

describe('the turn clock', () => {
  it('stays within a turn and moves on once a turn that used it ends', async () => {
    const t = currentTurn();
    expect(usedThisTurn()).toBe(t);
    expect(usedThisTurn()).toBe(t);
    expect(currentTurn()).toBe(t);
    await new Promise((resolve) => setImmediate(resolve));
    expect(currentTurn()).toBe(t + 1);
    // A turn that queued nothing does not move it.
    await new Promise((resolve) => setImmediate(resolve));
    expect(currentTurn()).toBe(t + 1);
  });
});

describe('unacknowledgedBeforeThisTurn', () => {
  it.skipIf(!nativeStatus().available)('native: what one turn queues leaves in one batch and counts from the next turn on', async () => {
    const { inTurn, after, link } = await oneWakeup('native', 5);
    expect(inTurn).toEqual([
      [1, 0],
      [2, 0],
      [3, 0],
      [4, 0],
      [5, 0],
    ]);
    expect(after).toEqual([5, 5]);
    expect(link.stats()).toMatchObject({ sent: 5, batches: 1, largestBatch: 5 });
  });

  it.skipIf(!nativeStatus().available)('native: a batch that fills (maxBatch) leaves at once and counts as sent before', async () => {
    const { inTurn, after, link } = await oneWakeup('native', 5, 2);
    expect(inTurn).toEqual([
      [1, 0],
      [2, 2],
      [3, 2],
      [4, 4],
      [5, 4],
    ]);
    expect(after).toEqual([5, 5]);
    expect(link.stats()).toMatchObject({ sent: 5, batches: 3, largestBatch: 2 });
  });

  it('ipc: every handle travels alone, so every unacknowledged one counts', async () => {
    // Node accepts one connection per callback here, so acks may come between them: the two
    // counts are equal whatever they are.
    const { inTurn, after } = await oneWakeup('ipc', 3);
    expect(inTurn.map(([u]) => u)).toContain(1);
    for (const [unacknowledged, before] of [...inTurn, after]) expect(before).toBe(unacknowledged);
  });
});
