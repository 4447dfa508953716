import type { Primary, WorkerInfo } from '@handoff/orchestrator';
import type { LogSink } from './logs/sink.js';

/** How often a burst of 503s is summed up in one line, in ms. */
const REJECT_SUMMARY_MS = 5000;

function where(address: unknown): string {
  if (typeof address !== 'object' || address === null) return String(address);
  const a = address as { port?: number; host?: string; path?: string };
  if (a.path !== undefined) return `unix:${a.path}`;
  const host = a.host === undefined || a.host === '::' || a.host === '0.0.0.0' ? 'localhost' : a.host.includes(':') ? `[${a.host}]` : a.host;
  return `http://${host}:${a.port}`;
}

/** Writes the primary's own events (spawn, ready, exit, crash loop, reload, 503s…) to the log. */
export function logPrimaryEvents(primary: Primary, sink: LogSink, expected: () => number): () => void {
  const tag = (w: WorkerInfo): string => `worker ${w.instance} (pid ${w.pid})`;
  let readyWhileStarting = 0;
  let reloadTotal = 0;
  let reloaded = 0;
  primary.on('worker:output', (w, { stream, chunk }) => sink.output(w, stream, chunk));
  primary.on('worker:spawn', (w) => sink.event('worker:spawn', `${tag(w)} started`, { worker: w.instance, pid: w.pid }));
  primary.on('worker:ready', (w) => {
    const progress =
      primary.state === 'starting' ? ` (${++readyWhileStarting}/${expected()} workers ready)` : primary.state === 'reloading' && reloadTotal > 0 ? ` (${++reloaded}/${reloadTotal} workers replaced)` : '';
    sink.event('worker:ready', `${tag(w)} ready${progress}`, { worker: w.instance, pid: w.pid });
  });
  primary.on('worker:exit', (w, { code, signal, expected: planned }) => {
    sink.workerGone(w);
    const how = signal !== null ? `signal ${signal}` : `code ${code}`;
    sink.event('worker:exit', `${tag(w)} exited with ${how}${planned ? '' : '; replacing it'}`, { worker: w.instance, pid: w.pid, code, signal, expected: planned });
  });
  primary.on('worker:crash-loop', ({ crashes, windowMs, nextDelayMs }) =>
    sink.event('worker:crash-loop', `crash loop: ${crashes} crashes within ${windowMs} ms; next restart in ${nextDelayMs} ms`, { crashes, windowMs, nextDelayMs }),
  );
  primary.on('worker:unresponsive', (w, { stuckMs }) => sink.event('worker:unresponsive', `${tag(w)} stuck for ${stuckMs} ms; killing it`, { worker: w.instance, pid: w.pid, stuckMs }));
  primary.on('worker:recycle', (w, { reason }) => sink.event('worker:recycle', `${tag(w)} ${RECYCLED[reason]}; replacing it gracefully`, { worker: w.instance, pid: w.pid, reason }));
  primary.on('reload:start', () => {
    reloadTotal = primary.workers().filter((w) => w.state === 'ready').length;
    reloaded = 0;
    sink.event('reload:start', `reloading ${reloadTotal} workers`, { workers: reloadTotal });
  });
  primary.on('reload:end', ({ replaced, error }) =>
    sink.event('reload:end', error === undefined ? `reload done: ${replaced} workers replaced` : `reload aborted after ${replaced} workers: ${error.message}`, { replaced, error: error?.code }),
  );
  primary.on('listener:bound', ({ address }) => sink.event('listener:bound', `listening on ${where(address)}`, { address }));
  primary.on('error', (error) => sink.event('error', `${error.code}: ${error.message}`, { code: error.code }));
  let rejected = 0;
  const reasons: Record<string, number> = {};
  primary.on('connection:rejected', ({ reason }) => {
    rejected++;
    reasons[reason] = (reasons[reason] ?? 0) + 1;
  });
  const summary = setInterval(() => {
    if (rejected === 0) return;
    const by = Object.entries(reasons)
      .map(([r, n]) => `${n} ${r}`)
      .join(', ');
    sink.event('connection:rejected', `${rejected} connections answered by the primary (503 or closed) in the last ${REJECT_SUMMARY_MS / 1000} s: ${by}`, { count: rejected, reasons: { ...reasons } });
    rejected = 0;
    for (const r of Object.keys(reasons)) delete reasons[r];
  }, REJECT_SUMMARY_MS);
  summary.unref();
  return () => clearInterval(summary);
}

export { where as describeAddress };

/** Why a worker is replaced gracefully, as the log line says it. */
const RECYCLED: Readonly<Record<'max-requests' | 'max-memory' | 'server-closed' | 'signal', string>> = {
  'max-requests': 'reached max-requests',
  'max-memory': 'reached max-memory',
  'server-closed': 'closed its server (the app called server.close())',
  signal: 'was signalled on its own and drains',
};
