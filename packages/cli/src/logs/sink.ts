import type { Writable } from 'node:stream';
import type { WorkerInfo } from '@handoff/orchestrator';
import { LineFormatter } from './format.js';
import { LineSplitter } from './lines.js';

/** One log record as `handoff logs` receives it: a worker's line, or an event of the primary. */
export type LogRecord =
  | { readonly kind: 'line'; readonly worker: number; readonly pid: number; readonly stream: 'stdout' | 'stderr'; readonly line: string }
  | { readonly kind: 'event'; readonly event: string; readonly message: string; readonly fields: Readonly<Record<string, unknown>> };

/**
 * Where every log line goes: the workers' stdout to `out` and stderr to `err`, each line whole and
 * formatted, and the primary's own events to `out` in the same format. The primary is the only
 * writer of both streams, and writes each chunk's lines in one `write()`, so workers' lines never
 * interleave inside a line.
 */
export class LogSink {
  private readonly splitters = new Map<string, LineSplitter>();
  private readonly taps = new Set<(record: LogRecord) => void>();
  private readonly outFormat: LineFormatter;
  private readonly errFormat: LineFormatter;

  constructor(
    format: ConstructorParameters<typeof LineFormatter>[0],
    name: string,
    private readonly out: Writable & { isTTY?: boolean },
    private readonly err: Writable & { isTTY?: boolean },
  ) {
    const color = (s: { isTTY?: boolean }): boolean => s.isTTY === true && process.env.NO_COLOR === undefined;
    this.outFormat = new LineFormatter(format, name, color(out));
    this.errFormat = new LineFormatter(format, name, color(err));
  }

  /** Bytes a worker wrote. */
  output(worker: WorkerInfo, stream: 'stdout' | 'stderr', chunk: Buffer): void {
    const key = `${worker.id}:${stream}`;
    let splitter = this.splitters.get(key);
    if (splitter === undefined) {
      splitter = new LineSplitter();
      this.splitters.set(key, splitter);
    }
    this.write(worker, stream, splitter.push(chunk));
  }

  /** A worker exited: its last line without a newline, if any, is written now. */
  workerGone(worker: WorkerInfo): void {
    for (const stream of ['stdout', 'stderr'] as const) {
      const key = `${worker.id}:${stream}`;
      const splitter = this.splitters.get(key);
      if (splitter === undefined) continue;
      this.splitters.delete(key);
      this.write(worker, stream, splitter.end());
    }
  }

  /** An event of the primary. */
  event(event: string, message: string, fields?: Readonly<Record<string, unknown>>): void {
    this.out.write(`${this.outFormat.event(event, message, fields)}\n`);
    for (const tap of this.taps) tap({ kind: 'event', event, message, fields: fields ?? {} });
  }

  /** Calls `listener` with every record from now on (for `handoff logs`); returns its removal. */
  tap(listener: (record: LogRecord) => void): () => void {
    this.taps.add(listener);
    return () => this.taps.delete(listener);
  }

  private write(worker: WorkerInfo, stream: 'stdout' | 'stderr', lines: readonly string[]): void {
    if (lines.length === 0) return;
    const format = stream === 'stdout' ? this.outFormat : this.errFormat;
    const source = { instance: worker.instance, pid: worker.pid };
    let text = '';
    for (const line of lines) text += `${format.worker(source, stream, line)}\n`;
    (stream === 'stdout' ? this.out : this.err).write(text);
    for (const tap of this.taps) for (const line of lines) tap({ kind: 'line', worker: worker.instance, pid: worker.pid, stream, line });
  }
}
