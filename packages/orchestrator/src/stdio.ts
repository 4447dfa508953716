/** Errors of a write that mean the reader went away. */
const READER_GONE = new Set(['EPIPE', 'ECONNRESET']);

let guarded = false;
let gone = false;

/**
 * Writes a worker's stderr to the primary's (`output: 'inherit'`). When its reader goes away (the
 * primary piped into `head -n 1`, a log collector that dies), Node emits EPIPE as an `'error'` on
 * `process.stderr`, which kills a process that does not listen: the primary listens, and what
 * follows is dropped. Any other error is thrown as Node would.
 */
export function writeStderr(chunk: Buffer): void {
  if (gone) return;
  if (!guarded) {
    guarded = true;
    process.stderr.on('error', (error: NodeJS.ErrnoException) => {
      if (!READER_GONE.has(error.code ?? '')) throw error;
      gone = true;
      process.stderr.destroy();
    });
  }
  process.stderr.write(chunk);
}
