import { closeSync, openSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { binding, nativeStatus } from '../src/native.js';

const POLL = { timeout: 20_000, interval: 10 };

/**
 * The addon's sender and receiver on one socketpair in this process: the batching, blocking and
 * ending paths the process tests cannot steer. Any fd will do as a payload-less connection.
 */
describe.skipIf(!nativeStatus().available)('addon: sender and receiver', () => {
  const devNull = (): number => openSync('/dev/null', 'r');

  it('holds batches while the worker does not read, writes the rest once it does, and acknowledges every one', async () => {
    const b = binding();
    const [primaryEnd, workerEnd] = b.socketpair();
    let acked = 0;
    let ended: [number, string | undefined] | undefined;
    const sender = new b.Sender(primaryEnd, (n) => (acked += n), (returned, error) => (ended = [returned, error]), 1, 2000, 0);
    const total = 2000;
    for (let i = 0; i < total; i++) expect(sender.queue(devNull(), i)).toBe(1);
    expect(sender.queue(devNull(), 0)).toBe(0); // the cap
    sender.flush();
    // Nobody reads: the socket's queue is full long before 2,000 one-fd batches.
    const blocked = sender.stats();
    expect(blocked.blocked).toBeGreaterThan(0);
    expect(blocked.batches).toBeLessThan(total);
    const tags: number[] = [];
    const receiver = new b.Receiver(
      workerEnd,
      (count) => {
        for (let i = 0; i < count; i++) {
          tags.push(receiver.tags[i]!);
          closeSync(receiver.fds[i]!);
        }
      },
      () => {},
    );
    await expect.poll(() => acked, POLL).toBe(total);
    expect(tags).toEqual(Array.from({ length: total }, (_, i) => i));
    expect(sender.stats()).toMatchObject({ batches: total, unacked: 0, sendErrors: 0 });
    expect(receiver.stats()).toMatchObject({ fds: total, batches: total, dropped: 0 });
    sender.close();
    expect(ended).toEqual([0, undefined]);
    receiver.close();
  });

  it('fills batches up to maxBatch, and on close() writes what it holds and gives back only what cannot leave', async () => {
    const b = binding();
    const [primaryEnd, workerEnd] = b.socketpair();
    let ended: [number, string | undefined] | undefined;
    const sender = new b.Sender(primaryEnd, () => {}, (returned, error) => (ended = [returned, error]), 4, 100, 0);
    for (let i = 0; i < 10; i++) sender.queue(devNull(), i);
    // Two full batches left at once; the third waits for the end of the turn.
    expect(sender.stats()).toMatchObject({ batches: 2, largestBatch: 4, unacked: 10 });
    sender.close();
    // The open batch is written too: nothing comes back, all 10 are the worker's.
    expect(ended).toEqual([0, undefined]);
    const got: number[] = [];
    let eof: string | undefined;
    const receiver = new b.Receiver(
      workerEnd,
      (count) => {
        for (let i = 0; i < count; i++) {
          got.push(receiver.tags[i]!);
          closeSync(receiver.fds[i]!);
        }
      },
      (error) => (eof = error ?? 'eof'),
    );
    await expect.poll(() => eof, POLL).toBe('eof');
    expect(got).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    receiver.close();
  });

  it('gives everything unacknowledged back when the worker end closes unread', async () => {
    const b = binding();
    const [primaryEnd, workerEnd] = b.socketpair();
    let ended: [number, string | undefined] | undefined;
    const sender = new b.Sender(primaryEnd, () => {}, (returned, error) => (ended = [returned, error]), 8, 100, 0);
    const fds = Array.from({ length: 20 }, devNull);
    for (const fd of fds) sender.queue(fd, 0);
    sender.flush();
    b.close(workerEnd);
    // It closed with batches unread: Linux says ECONNRESET (and the acks before it are still read).
    await expect.poll(() => ended, POLL).toEqual([20, 'ECONNRESET']);
    // They are the caller's again, still open.
    for (const fd of fds) closeSync(fd);
  });

  it('reads the acks queued before the reset a worker that dies with batches unread leaves', async () => {
    const b = binding();
    const [primaryEnd, workerEnd] = b.socketpair();
    let acked = 0;
    let ended: [number, string | undefined] | undefined;
    const sender = new b.Sender(primaryEnd, (n) => (acked += n), (returned, error) => (ended = [returned, error]), 8, 100, 0);
    for (let i = 0; i < 3; i++) sender.queue(devNull(), 1);
    sender.flush();
    const later = [devNull(), devNull()];
    const receiver = new b.Receiver(
      workerEnd,
      (count) => {
        // Batch 1 is read and acknowledged; batch 2 arrives and is never read: the end closes.
        for (let i = 0; i < count; i++) closeSync(receiver.fds[i]!);
        for (const fd of later) sender.queue(fd, 2);
        sender.flush();
        receiver.close();
      },
      () => {},
    );
    await expect.poll(() => ended, POLL).toEqual([2, 'ECONNRESET']);
    expect(acked).toBe(3);
    for (const fd of later) closeSync(fd);
  });

  it('reads the batches queued before the reset a primary that closes with acks unread leaves', async () => {
    const b = binding();
    const [primaryEnd, workerEnd] = b.socketpair();
    const sender = new b.Sender(primaryEnd, () => {}, () => {}, 8, 100, 0);
    for (let i = 0; i < 3; i++) sender.queue(devNull(), 1);
    sender.flush();
    const tags: number[] = [];
    let closed: string | undefined;
    let first = true;
    const receiver = new b.Receiver(
      workerEnd,
      (count) => {
        for (let i = 0; i < count; i++) {
          tags.push(receiver.tags[i]!);
          closeSync(receiver.fds[i]!);
        }
        if (!first) return;
        first = false;
        // Batch 2 goes out, then the primary closes before it read the ack of batch 1.
        for (let i = 0; i < 2; i++) sender.queue(devNull(), 2);
        sender.close();
      },
      (error) => (closed = error ?? 'eof'),
    );
    await expect.poll(() => closed, POLL).toBeDefined();
    expect(tags).toEqual([1, 1, 1, 2, 2]);
    expect(receiver.stats()).toMatchObject({ fds: 5, dropped: 0 });
  });

  it('lets what arrives while the worker is not reading join one batch, not one message each', async () => {
    const b = binding();
    const [primaryEnd, workerEnd] = b.socketpair();
    let acked = 0;
    const sender = new b.Sender(primaryEnd, (n) => (acked += n), () => {}, 64, 5000, 0);
    // One fd per turn until the worker's queue is full (net.unix.max_dgram_qlen messages)...
    let queued = 0;
    while (sender.stats().blocked === 0 && queued < 4000) {
      sender.queue(devNull(), 0);
      queued++;
      sender.flush();
    }
    expect(sender.stats().blocked).toBe(1);
    const before = sender.stats().batches;
    // ...then 40 more, one per turn, while it stays full.
    for (let i = 0; i < 40; i++) {
      sender.queue(devNull(), 0);
      sender.flush();
    }
    const receiver = new b.Receiver(
      workerEnd,
      (count) => {
        for (let i = 0; i < count; i++) closeSync(receiver.fds[i]!);
      },
      () => {},
    );
    await expect.poll(() => acked, POLL).toBe(queued + 40);
    // The one that met EAGAIN, then the 40 in one batch.
    expect(sender.stats().batches).toBe(before + 2);
    expect(sender.stats().largestBatch).toBe(40);
    sender.close();
    receiver.close();
  });
});
