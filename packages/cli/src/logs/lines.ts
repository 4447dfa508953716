import { StringDecoder } from 'node:string_decoder';

/** A line longer than this is cut and written as a line of its own, so one runaway write cannot hold the log. */
export const MAX_LINE = 64 * 1024;

/**
 * Cuts a byte stream into whole lines: a chunk may end mid-line (or mid-character), and what is
 * left waits for the next chunk, so a line is written once, whole, never mixed with another
 * worker's bytes.
 */
export class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private partial = '';

  /** The complete lines in `chunk` (with what was left before), without their newlines. */
  push(chunk: Buffer): string[] {
    const text = this.partial + this.decoder.write(chunk);
    const lines = text.split('\n');
    this.partial = lines.pop()!;
    while (this.partial.length > MAX_LINE) {
      lines.push(this.partial.slice(0, MAX_LINE));
      this.partial = this.partial.slice(MAX_LINE);
    }
    for (let i = 0; i < lines.length; i++) if (lines[i]!.endsWith('\r')) lines[i] = lines[i]!.slice(0, -1);
    return lines;
  }

  /** What is left at the end of the stream (a last line without its newline), if anything. */
  end(): string[] {
    const rest = this.partial + this.decoder.end();
    this.partial = '';
    return rest === '' ? [] : [rest];
  }
}
