import { spawn } from 'node:child_process';
import { describe, expect, it, onTestFinished } from 'vitest';
import { get, waitFor } from '../../../tools/testing/src/index.js';
import { LineSplitter } from '../src/logs/lines.js';
import { LineFormatter } from '../src/logs/format.js';
import { bin, fixture, useSandbox } from './helpers.js';

const sandbox = useSandbox();

describe('logs', () => {
  it('writes every line of two workers printing thousands of long lines at once whole, and merges worker and pid into JSON lines', async () => {
    const run = await sandbox.start([fixture('chatty.mjs'), '-w', '2', '--port', '3000:0'], { env: { LINES: '3000', WIDTH: '3000' } });
    await waitFor(() => run.lines.filter((l) => typeof l.msg === 'string' && (l.msg as string).startsWith('done ')).length === 2, 30_000, 50, 'both workers to finish printing');
    const text = run.lines.filter((l) => l.stream === 'stdout' && typeof l.msg === 'string' && (l.msg as string).startsWith('line '));
    expect(text).toHaveLength(6000);
    for (const l of text) {
      expect(l.msg).toMatch(/^line (\d+) \d+ x{3000} end$/);
      expect(String(l.pid)).toBe(/^line (\d+)/.exec(l.msg as string)![1]);
      expect([0, 1]).toContain(l.worker);
    }
    const json = run.lines.filter((l) => l.level === 30);
    expect(json).toHaveLength(2000);
    for (const l of json) expect(l).toMatchObject({ level: 30, msg: expect.stringMatching(/^json \d+$/), worker: expect.any(Number), pid: expect.any(Number) });
    expect(run.lines.some((l) => 'raw' in l)).toBe(false);
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
  });

  it('handoff logs follows the workers\' lines and the primary\'s events from another terminal, and ends when the primary stops', async () => {
    const run = await sandbox.start([fixture('greeter.cjs'), '-w', '2', '--port', '3000:0', '--name', 'greeter']);
    const follower = spawn(process.execPath, [bin, 'logs', 'greeter', '--json'], { env: { ...process.env, XDG_RUNTIME_DIR: sandbox.runtimeDir() }, stdio: ['ignore', 'pipe', 'inherit'] });
    onTestFinished(() => void follower.kill('SIGKILL'));
    let text = '';
    follower.stdout!.on('data', (c: Buffer) => (text += c.toString()));
    const ended = new Promise<number | null>((resolve) => follower.once('exit', resolve));
    const records = (): Array<Record<string, unknown>> => text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    // Requests until the follower has seen lines from both workers (it may subscribe after the first).
    await waitFor(async () => {
      await get(run.port, { path: '/hello' });
      return new Set(records().filter((r) => /^request \/hello by \d+$/.test(String(r.msg))).map((r) => r.pid)).size === 2;
    }, 15_000, 50, 'lines of both workers in handoff logs');
    for (const r of records().filter((r) => r.stream === 'stdout')) expect(r).toMatchObject({ name: 'greeter', worker: expect.any(Number), pid: expect.any(Number) });
    expect((await sandbox.cli(['stop', 'greeter'])).code).toBe(0);
    expect(await ended).toBe(0);
    expect(records().some((r) => r.source === 'handoff' && r.event === 'stop')).toBe(true);
    expect(await run.exited).toBe(0);
  });

  it('LineSplitter keeps a line cut across chunks (and a character cut across them) whole', () => {
    const splitter = new LineSplitter();
    const bytes = Buffer.from('héllo wörld\nsecond');
    expect(splitter.push(bytes.subarray(0, 2))).toEqual([]);
    expect(splitter.push(bytes.subarray(2, 9))).toEqual([]);
    expect(splitter.push(bytes.subarray(9))).toEqual(['héllo wörld']);
    expect(splitter.push(Buffer.from(' line\r\n'))).toEqual(['second line']);
    expect(splitter.push(Buffer.from('tail'))).toEqual([]);
    expect(splitter.end()).toEqual(['tail']);
  });

  it('formats text with a tag (colored only when asked), raw as is, JSON wrapped or merged', () => {
    const now = () => new Date(0);
    const source = { instance: 1, pid: 42 };
    expect(new LineFormatter('text', 'api', false, now).worker(source, 'stdout', 'hi')).toBe('[api:1 42] hi');
    expect(new LineFormatter('text', 'api', true, now).worker(source, 'stdout', 'hi')).toBe('\u001b[33m[api:1 42]\u001b[0m hi');
    expect(new LineFormatter('raw', 'api', false, now).worker(source, 'stdout', 'hi')).toBe('hi');
    const json = new LineFormatter('json', 'api', false, now);
    expect(JSON.parse(json.worker(source, 'stderr', 'plain'))).toEqual({ time: '1970-01-01T00:00:00.000Z', name: 'api', worker: 1, pid: 42, stream: 'stderr', msg: 'plain' });
    expect(JSON.parse(json.worker(source, 'stdout', '{"level":30,"msg":"m"}'))).toEqual({ level: 30, msg: 'm', worker: 1, pid: 42 });
    expect(JSON.parse(json.worker(source, 'stdout', '{not json'))).toMatchObject({ msg: '{not json' });
    expect(JSON.parse(json.event('worker:ready', 'ready', { worker: 1 }))).toMatchObject({ source: 'handoff', event: 'worker:ready', msg: 'ready', worker: 1 });
  });
});
