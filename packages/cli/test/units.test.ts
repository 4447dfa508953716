// The CLI's value readers and its "did you mean", without a process: integers, durations and sizes
// as flags and config files write them, shell-like word splitting, and the edit distance.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { distance, didYouMean, nearest } from '../src/suggest.js';
import { bytes, choice, duration, integer, splitWords, text } from '../src/units.js';

const invalid = { code: 'HANDOFF_ERR_INVALID_VALUE' };

describe('integer', () => {
  it('reads digits and whole numbers at or above min, and names where a bad one came from', () => {
    expect(integer('42', '--workers')).toBe(42);
    expect(integer(' 7 ', '--workers')).toBe(7);
    expect(integer(3, 'workers', 1)).toBe(3);
    for (const bad of ['-1', '1.5', 'x', '', 1.5, -1, null, undefined, true]) expect(() => integer(bad, '--workers')).toThrow(expect.objectContaining(invalid));
    expect(() => integer(0, '--workers', 1)).toThrow(/--workers must be an integer >= 1, got 0/);
  });
});

describe('duration', () => {
  it('reads ms by default and each unit (property: n with a unit is n x the unit, rounded)', () => {
    const units = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 100_000 }), fc.constantFrom('', 'ms', 's', 'm', 'h'), fc.constantFrom('', ' '), (n, unit, space) => {
        const factor = unit === '' ? 1 : units[unit as keyof typeof units];
        return duration(`${n}${unit === '' ? '' : space}${unit}`, 'x') === n * factor;
      }),
    );
    expect(duration('1.5m', 'x')).toBe(90_000);
    expect(duration('0.5s', 'x')).toBe(500);
    expect(duration(250, 'x')).toBe(250);
  });

  it('refuses what is no duration, naming an example', () => {
    for (const bad of ['5 minutes', '-1s', '1d', 's', '', '1.s', -5, 1.5, {}]) expect(() => duration(bad, '--timeout')).toThrow(expect.objectContaining(invalid));
    expect(() => duration('soon', '--timeout')).toThrow(/--timeout must be a duration such as 5000, 500ms, 10s or 2m, got "soon"/);
  });
});

describe('bytes', () => {
  it('reads a number of bytes and the binary units, any case', () => {
    expect(bytes('536870912', 'x')).toBe(536_870_912);
    expect(bytes('512M', 'x')).toBe(512 * 1024 ** 2);
    expect(bytes('512mb', 'x')).toBe(512 * 1024 ** 2);
    expect(bytes('1.5G', 'x')).toBe(1.5 * 1024 ** 3);
    expect(bytes('800kb', 'x')).toBe(800 * 1024);
    expect(bytes('10 b', 'x')).toBe(10);
    expect(bytes(4096, 'x')).toBe(4096);
  });

  it('refuses unknown units and what is no size', () => {
    for (const bad of ['1T', '12 bytes', 'M', '', '-1M', 1.5]) expect(() => bytes(bad, '--max-memory')).toThrow(expect.objectContaining(invalid));
  });
});

describe('text and choice', () => {
  it('take a non-empty string, and one of the choices', () => {
    expect(text('app.js', 'x')).toBe('app.js');
    expect(() => text('', 'x')).toThrow(expect.objectContaining(invalid));
    expect(() => text(1, 'x')).toThrow(expect.objectContaining(invalid));
    expect(choice('ipc', '--transport', ['auto', 'native', 'ipc'])).toBe('ipc');
    expect(() => choice('tcp', '--transport', ['auto', 'native', 'ipc'])).toThrow(/--transport must be one of auto, native, ipc, got "tcp"/);
  });
});

describe('splitWords', () => {
  it('splits on whitespace and groups quoted words, keeping an empty quoted word', () => {
    expect(splitWords('--import tsx --title "my app"')).toEqual(['--import', 'tsx', '--title', 'my app']);
    expect(splitWords(`  a   'b c'"d"  ""  `)).toEqual(['a', 'b cd', '']);
    expect(splitWords('')).toEqual([]);
    expect(splitWords(`--x="it's"`)).toEqual([`--x=it's`]);
  });

  it('refuses an unclosed quote', () => {
    expect(() => splitWords('--title "my app')).toThrow(expect.objectContaining(invalid));
  });

  it('gives back the words it was given, joined by spaces and quoted (property)', () => {
    const word = fc.string({ minLength: 0, maxLength: 8 }).filter((w) => !w.includes('"'));
    fc.assert(fc.property(fc.array(word, { maxLength: 6 }), (words) => JSON.stringify(splitWords(words.map((w) => `"${w}"`).join(' '))) === JSON.stringify(words)));
  });
});

describe('distance and nearest', () => {
  it('is the Levenshtein distance: symmetric, 0 only for equal strings, within the triangle inequality (property)', () => {
    const s = fc.string({ maxLength: 10 });
    fc.assert(
      fc.property(s, s, s, (a, b, c) => {
        const ab = distance(a, b);
        return ab === distance(b, a) && (ab === 0) === (a === b) && ab <= Math.max(a.length, b.length) && ab >= Math.abs(a.length - b.length) && distance(a, c) <= ab + distance(b, c);
      }),
    );
    expect(distance('kitten', 'sitting')).toBe(3);
  });

  it('suggests the nearest candidate only when it is near enough, ignoring case', () => {
    const flags = ['--workers', '--port', '--policy', '--transport'];
    expect(nearest('--wrokers', flags)).toBe('--workers');
    expect(nearest('--PORT', flags)).toBe('--port');
    expect(nearest('--zzzzzzzzzz', flags)).toBeUndefined();
    expect(didYouMean('--polcy', flags)).toBe('; did you mean --policy?');
    expect(didYouMean('--polcy', flags, (s) => `\`${s}\``)).toBe('; did you mean `--policy`?');
    expect(didYouMean('nothing-like-it', flags)).toBe('');
  });
});
