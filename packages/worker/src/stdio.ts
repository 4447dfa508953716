/** Errors of a write to stdout or stderr that mean the reader went away: nothing to do but drop what follows. */
const READER_GONE = new Set(['EPIPE', 'ECONNRESET']);

const guarded = new WeakSet<NodeJS.WritableStream>();

/**
 * A worker's stdout and stderr whose reader goes away (the primary piped into `head -n 1`, a log
 * collector that dies): Node emits EPIPE as an `'error'` on `process.stdout`, and with no listener
 * that kills the process, and every connection it holds. Under a primary the worker keeps serving
 * instead: the stream is destroyed and what the app writes afterwards is dropped. Any other error
 * is thrown as Node would.
 */
export function survivePipeErrors(stream: NodeJS.WritableStream & { destroy?(): void }): void {
  if (guarded.has(stream)) return;
  guarded.add(stream);
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (!READER_GONE.has(error.code ?? '')) throw error;
    stream.destroy?.();
  });
}
