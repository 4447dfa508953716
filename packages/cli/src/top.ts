import { request } from './control/client.js';
import type { PrimaryStatus } from './control/handlers.js';
import { ExitCode, type HandoffCliError } from './errors.js';
import { table } from './render.js';

/** Where `handoff top` writes and reads keys. */
export interface TopIO {
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean };
  /** Where keys are read (q quits) on a terminal. @default process.stdin */
  readonly stdin?: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?(raw: boolean): unknown };
}

/** How often `top` redraws, in ms. */
export const TOP_INTERVAL_MS = 1000;

/** Per-second rates from two `status` answers: requests by worker id, and the primary's 503s. */
function rates(prev: PrimaryStatus | undefined, now: PrimaryStatus, seconds: number): { requests: Map<number, number | null>; rejected: number | null } {
  const before = new Map(prev?.workers.map((w) => [w.id, w.requests]) ?? []);
  const requests = new Map<number, number | null>();
  for (const w of now.workers) {
    const b = before.get(w.id);
    requests.set(w.id, b === undefined || seconds <= 0 ? null : Math.max(0, w.requests - b) / seconds);
  }
  return { requests, rejected: prev === undefined || seconds <= 0 ? null : Math.max(0, now.rejectedTotal - prev.rejectedTotal) / seconds };
}

const rate = (x: number | null): string => (x === null ? '-' : x.toFixed(1));

/** One frame of `handoff top`. */
export function renderTop(now: PrimaryStatus, prev: PrimaryStatus | undefined, seconds: number, tty: boolean): string {
  const r = rates(prev, now, seconds);
  const ready = now.workers.filter((w) => w.state === 'ready').length;
  const head = `${now.name}: ${now.state}, ${ready}/${now.workers.length} workers ready, queue ${now.queued}, 503/s ${rate(r.rejected)} (${now.rejectedTotal} total)${tty ? '   q: quit' : ''}`;
  const rows = now.workers.map((w) => [
    String(w.instance),
    String(w.pid),
    w.state,
    w.cpu === null ? '-' : `${w.cpu.toFixed(1)}%`,
    w.rss === 0 ? '-' : `${(w.rss / 1024 / 1024).toFixed(1)}M`,
    String(w.connections),
    rate(r.requests.get(w.id) ?? null),
    `${w.eventLoopDelay.toFixed(1)}ms`,
    String(w.restarts),
  ]);
  return `${head}\n${table(['slot', 'pid', 'state', 'cpu', 'rss', 'conns', 'req/s', 'loop delay', 'restarts'], rows)}\n`;
}

/**
 * `handoff top`: asks the primary for its status every second over the control socket and redraws
 * in place on a terminal (q or Ctrl-C quits), or writes one plain block per second otherwise (a
 * pipe, a log). Ends with 0 when the primary stops.
 */
export async function runTop(path: string, name: string, io: TopIO, interval = TOP_INTERVAL_MS): Promise<number> {
  const tty = io.stdout.isTTY === true;
  const out = (s: string): void => void io.stdout.write(s);
  let quit: () => void = () => {};
  const quitting = new Promise<void>((resolve) => (quit = resolve));
  let stopped = false;
  const onKey = (key: Buffer | string): void => {
    const k = key.toString();
    if (k === 'q' || k === 'Q' || k === '\u0003') quit();
  };
  const onSignal = (): void => quit();
  process.once('SIGINT', onSignal);
  const stdin = io.stdin ?? (process.stdin as NonNullable<TopIO['stdin']>);
  const keys = tty && stdin?.isTTY === true && typeof stdin.setRawMode === 'function';
  if (keys) {
    stdin.setRawMode!(true);
    stdin.on('data', onKey);
    stdin.resume();
  }
  if (tty) out('\u001b[?25l');
  let prev: PrimaryStatus | undefined;
  let prevAt = 0;
  try {
    while (!stopped) {
      let now: PrimaryStatus;
      try {
        now = (await request(path, name, 'status')) as PrimaryStatus;
      } catch (error) {
        const e = error as HandoffCliError;
        if (prev === undefined) throw e;
        out(`${name}: the primary is gone (${e.message})\n`);
        return ExitCode.OK;
      }
      const at = Date.now();
      const frame = renderTop(now, prev, (at - prevAt) / 1000, tty);
      out(tty ? `\u001b[H\u001b[2J${frame}` : `${new Date(at).toISOString()}\n${frame}\n`);
      prev = now;
      prevAt = at;
      let timer: NodeJS.Timeout | undefined;
      const tick = new Promise<void>((resolve) => (timer = setTimeout(resolve, interval)));
      const which = await Promise.race([tick.then(() => 'tick'), quitting.then(() => 'quit')]);
      clearTimeout(timer);
      if (which === 'quit') stopped = true;
    }
    return ExitCode.OK;
  } finally {
    process.off('SIGINT', onSignal);
    if (keys) {
      stdin.off('data', onKey);
      stdin.setRawMode!(false);
      stdin.pause();
    }
    if (tty) out('\u001b[?25h');
  }
}
