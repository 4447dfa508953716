import type { LogFormat } from '../options.js';

/** Who wrote a line: a worker (its instance and pid), or the primary itself. */
export interface LineSource {
  readonly instance: number;
  readonly pid: number;
}

const COLORS = [36, 33, 35, 32, 34, 31, 96, 93, 95, 92, 94, 91];

/** Formats log lines in one of the three formats; one instance per output stream. */
export class LineFormatter {
  constructor(
    private readonly format: LogFormat,
    private readonly name: string,
    private readonly color: boolean,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** One line a worker wrote on `stream`. */
  worker(source: LineSource, stream: 'stdout' | 'stderr', line: string): string {
    switch (this.format) {
      case 'raw':
        return line;
      case 'json': {
        if (line.startsWith('{')) {
          try {
            const parsed: unknown = JSON.parse(line);
            if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) return JSON.stringify({ ...parsed, worker: source.instance, pid: source.pid });
          } catch {
            // Not JSON after all: wrapped below.
          }
        }
        return JSON.stringify({ time: this.now().toISOString(), name: this.name, worker: source.instance, pid: source.pid, stream, msg: line });
      }
      case 'text': {
        const tag = `[${this.name}:${source.instance} ${source.pid}]`;
        return `${this.paint(tag, COLORS[source.instance % COLORS.length]!)} ${line}`;
      }
    }
  }

  /** One event of the primary (spawn, ready, exit, reload progress…), with its fields for JSON. */
  event(event: string, message: string, fields: Readonly<Record<string, unknown>> = {}): string {
    switch (this.format) {
      case 'json':
        return JSON.stringify({ time: this.now().toISOString(), name: this.name, source: 'handoff', event, msg: message, ...fields });
      case 'raw':
        return `[handoff] ${message}`;
      case 'text':
        return `${this.paint(`[${this.name}]`, 1)} ${message}`;
    }
  }

  private paint(text: string, code: number): string {
    return this.color ? `\u001b[${code}m${text}\u001b[0m` : text;
  }
}
