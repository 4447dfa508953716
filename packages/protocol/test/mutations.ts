import fc from 'fast-check';
import { MAX_HEAD_BYTES, MESSAGE_TYPES, PROTOCOL_VERSION, ProtocolErrorCode, type HandoffMessageType } from '@handoff/protocol';
import { FAKE_HANDLE, MAX_HEAD_CHARS, needsHandle, SPEC, type Field } from './spec.js';

type Fields = Record<string, unknown>;

/** One single-fault input for the decoder and what it must answer. */
export interface Case {
  readonly what: string;
  readonly value: unknown;
  readonly handle: unknown;
  /** The error code the decoder must return, or `'ok'`. */
  readonly expected: ProtocolErrorCode | 'ok';
}

/** Turns a valid message (and its handle) into a {@link Case}. */
export type Mutation = (message: Fields, handle: object | undefined) => Case;

const KNOWN = new Set<string>(MESSAGE_TYPES);
const MAX_INT = Number.MAX_SAFE_INTEGER;

const set = (m: Fields, key: string, value: unknown): Fields => ({ ...m, [key]: value });
const without = (m: Fields, key: string): Fields => {
  const copy = { ...m };
  delete copy[key];
  return copy;
};

/** Values of another kind than the field's (JSON-able and not). */
function wrongKind(field: Field): fc.Arbitrary<unknown> {
  const objects = fc.oneof(fc.constant(null), fc.object({ maxDepth: 1 }), fc.array(fc.integer(), { maxLength: 3 }));
  switch (field.kind) {
    case 'int':
    case 'num':
      return fc.oneof(fc.string({ maxLength: 4 }), fc.boolean(), objects, fc.bigInt(), fc.constant('1'));
    case 'bool':
      return fc.oneof(fc.integer(), fc.string({ maxLength: 4 }), objects);
    case 'str':
    case 'enum':
    case 'head':
      return fc.oneof(fc.integer(), fc.boolean(), objects, fc.constant(new String('primary')));
    case 'caps':
      return fc.oneof(fc.string({ maxLength: 4 }), fc.integer(), fc.constant(null), fc.object({ maxDepth: 1 }), fc.constant([1]), fc.constant([null]));
    case 'counts':
      return fc.oneof(fc.string({ maxLength: 4 }), fc.integer(), fc.boolean(), fc.constant(null), fc.constant([]), fc.constant([1, 2]));
    case 'address':
      return fc.oneof(fc.integer(), fc.string({ maxLength: 4 }), fc.boolean(), fc.constant(null), fc.constant([]));
    case 'proxy':
      return fc.oneof(fc.integer(), fc.string({ maxLength: 4 }), fc.boolean(), fc.constant(null), fc.constant([]), fc.constant([{ timeout: 1, maxHeaderBytes: 200 }]));
  }
}

/**
 * Values of the right kind but outside the field's range, for message `m` (a range may depend on
 * another field: listen.listener < listeners), with `negative` a random negative integer; none for
 * plain strings and booleans.
 */
function outOfRange(field: Field, m: Fields, negative: number): readonly unknown[] | undefined {
  switch (field.kind) {
    case 'int': {
      const max = typeof field.max === 'number' ? field.max : field.max(m);
      return [field.min - 1, field.min + 0.5, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, max === MAX_INT ? 2 ** 53 : max + 1, negative];
    }
    case 'num':
      return [-1, -0.5, -Number.MIN_VALUE, Number.NaN, Number.POSITIVE_INFINITY, negative];
    case 'enum':
      return ['', 'other', `${field.values[0]!} `, field.values[0]!.toUpperCase(), 'constructor'];
    case 'head':
      return ['@@@@', 'abc!', '====', 'A B', '\u00fc'];
    case 'counts':
      return [{ HANDOFF_ERR_PROXY_TIMEOUT: -1 }, { a: 1.5 }, { a: Number.NaN }, { a: '1' }, { a: null }, { a: 2 ** 53 }];
    case 'address':
      return [{ port: 65536 }, { port: -1 }, { port: 1.5 }, { path: '' }, { port: 80, ipv6Only: 'yes' }, {}, { host: '::1' }];
    case 'proxy':
      return [
        {},
        { timeout: 0, maxHeaderBytes: 200 },
        { timeout: 1.5, maxHeaderBytes: 200 },
        { timeout: 2 ** 31, maxHeaderBytes: 200 },
        { timeout: 1, maxHeaderBytes: 106 },
        { timeout: 1, maxHeaderBytes: MAX_HEAD_BYTES + 1 },
        { timeout: 1, maxHeaderBytes: 200, trusted: '10.0.0.0/8' },
        { timeout: 1, maxHeaderBytes: 200, trusted: [8] },
        { timeout: 1, maxHeaderBytes: 200, trusted: [null] },
      ];
    default:
      return undefined;
  }
}

/** Values of the right kind but larger than the protocol allows; none for fields without a size. */
function oversized(field: Field): fc.Arbitrary<unknown> | undefined {
  switch (field.kind) {
    case 'str':
      return fc.integer({ min: 1, max: 2000 }).map((extra) => 'x'.repeat(field.max + extra));
    case 'head':
      return fc.integer({ min: 1, max: 400 }).map((extra) => 'A'.repeat(MAX_HEAD_CHARS + 4 * extra));
    case 'caps':
      return fc.constantFrom(Array.from({ length: 65 }, () => 'c'), ['c'.repeat(65)], ['ok', 'x'.repeat(1000)]);
    case 'counts':
      return fc.constantFrom(Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`C${i}`, 1])), { ['c'.repeat(129)]: 1 });
    case 'address':
      return fc.constantFrom({ path: 'p'.repeat(4097) }, { port: 80, host: 'h'.repeat(256) });
    case 'proxy':
      return fc.constantFrom({ timeout: 1, maxHeaderBytes: 200, trusted: Array.from({ length: 1025 }, () => '10.0.0.0/8') }, { timeout: 1, maxHeaderBytes: 200, trusted: ['x'.repeat(65)] });
    default:
      return undefined;
  }
}

/** A present value at the top of its allowed size (still valid). */
function atLimit(field: Field): unknown {
  if (field.kind === 'str') return 'x'.repeat(field.max);
  if (field.kind === 'head') return 'A'.repeat(MAX_HEAD_CHARS);
  if (field.kind === 'caps') return Array.from({ length: 64 }, () => 'c'.repeat(64));
  if (field.kind === 'counts') return Object.fromEntries(Array.from({ length: 32 }, (_, i) => [`${'c'.repeat(126)}${String(i).padStart(2, '0')}`, MAX_INT]));
  if (field.kind === 'proxy') return { timeout: 2_147_483_647, maxHeaderBytes: MAX_HEAD_BYTES, trusted: Array.from({ length: 1024 }, () => 'f'.repeat(64)) };
  return undefined;
}

function hostileProxy(message: Fields): unknown {
  const boom = (): never => {
    throw new Error('hostile trap');
  };
  return new Proxy(message, { get: boom, has: boom, ownKeys: boom, getOwnPropertyDescriptor: boom, getPrototypeOf: boom });
}

function withThrowingGetter(message: Fields, key: string): Fields {
  const copy = { ...message };
  Object.defineProperty(copy, key, {
    enumerable: true,
    get() {
      throw new Error(`hostile getter ${key}`);
    },
  });
  return copy;
}

/** Every single-fault mutation that applies to messages of `type`, with the code it must yield. */
export function mutationArb(type: HandoffMessageType): fc.Arbitrary<Mutation> {
  const spec = SPEC[type];
  const fields = Object.entries(spec.fields);
  const required = fields.filter(([, f]) => f.optional !== true).map(([n]) => n);
  const arbs: Array<fc.Arbitrary<Mutation>> = [
    fc
      .oneof(fc.nat().filter((v) => v !== PROTOCOL_VERSION), fc.constantFrom(0, PROTOCOL_VERSION - 1, PROTOCOL_VERSION + 1, Number.MAX_SAFE_INTEGER))
      .map((v) => (m: Fields, h: object | undefined) => ({ what: `v = ${v}`, value: set(m, 'v', v), handle: h, expected: ProtocolErrorCode.VERSION })),
    // No usable version at all: malformed, not another version.
    fc
      .oneof(fc.integer({ max: -1 }), fc.constantFrom<unknown>(undefined, null, '1', 1.5, Number.NaN, { valueOf: () => 1 }, [1]), fc.string({ maxLength: 3 }))
      .map((v) => (m: Fields, h: object | undefined) => ({ what: 'v unusable', value: set(m, 'v', v), handle: h, expected: ProtocolErrorCode.MALFORMED })),
    fc
      .oneof(
        fc.string({ maxLength: 12 }).filter((t) => !KNOWN.has(t)),
        fc.constantFrom<unknown>('__proto__', 'constructor', 'toString', 'hasOwnProperty', 'accepted', 'refused', 'HELLO', undefined, null, 7, ['hello'], { toString: () => 'hello' }),
      )
      .map((t) => (m: Fields, h: object | undefined) => ({ what: 'unknown type', value: set(m, 'type', t), handle: h, expected: ProtocolErrorCode.UNKNOWN_TYPE })),
    fc
      .constantFrom<unknown>(undefined, null, 'NODE_HANDLE', 'node_handoff', 'NODE_HANDOFF ', 'handoff', 1)
      .map((cmd) => (m: Fields, h: object | undefined) => ({ what: `cmd = ${String(cmd)}`, value: set(m, 'cmd', cmd), handle: h, expected: ProtocolErrorCode.MALFORMED })),
    fc
      .oneof(fc.string({ maxLength: 8 }), fc.integer(), fc.constantFrom<unknown>(null, undefined, true, [], [1, 2]))
      .map((value) => (_m: Fields, h: object | undefined) => ({ what: 'not an object', value, handle: h, expected: ProtocolErrorCode.MALFORMED })),
    // A handle where none may be, or none where one must be.
    fc.oneof(fc.constant<unknown>(FAKE_HANDLE), fc.integer(), fc.string({ maxLength: 3 }), fc.object({ maxDepth: 0 })).map(
      (extra) => (m: Fields, h: object | undefined) =>
        needsHandle(type, m)
          ? { what: 'handle removed', value: m, handle: typeof extra === 'number' ? null : undefined, expected: ProtocolErrorCode.HANDLE }
          : { what: 'handle added', value: m, handle: extra, expected: ProtocolErrorCode.HANDLE },
    ),
    // Unknown fields are ignored: v1 peers may add optional fields without a version bump.
    fc.tuple(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 1 })).map(
      ([key, extra]) => (m: Fields, h: object | undefined) => ({ what: 'extra field', value: set(m, `x_${key}`, extra), handle: h, expected: 'ok' as const }),
    ),
    fc.constant((m: Fields, h: object | undefined) => ({ what: 'hostile proxy', value: hostileProxy(m), handle: h, expected: ProtocolErrorCode.MALFORMED })),
    fc
      .constantFrom('cmd', 'v', 'type', ...fields.map(([n]) => n))
      .map((key) => (m: Fields, h: object | undefined) =>
        key in m
          ? { what: `throwing getter on ${key}`, value: withThrowingGetter(m, key), handle: h, expected: ProtocolErrorCode.MALFORMED }
          : { what: 'transparent proxy', value: new Proxy(m, {}), handle: h, expected: 'ok' as const },
      ),
  ];
  if (required.length > 0) {
    arbs.push(
      fc.constantFrom(...required).map((key) => (m: Fields, h: object | undefined) => ({ what: `${key} removed`, value: without(m, key), handle: h, expected: ProtocolErrorCode.MALFORMED })),
    );
  }
  for (const [key, field] of fields) {
    arbs.push(wrongKind(field).map((bad) => (m: Fields, h: object | undefined) => ({ what: `${key} of the wrong kind`, value: set(m, key, bad), handle: h, expected: ProtocolErrorCode.MALFORMED })));
    if (outOfRange(field, {}, -1) !== undefined) {
      arbs.push(
        fc.tuple(fc.nat(), fc.integer({ min: -MAX_INT, max: -1 })).map(([pick, negative]) => (m: Fields, h: object | undefined) => {
          const values = outOfRange(field, m, negative)!;
          const bad = values[pick % values.length];
          return { what: `${key} out of range (${String(bad)})`, value: set(m, key, bad), handle: h, expected: ProtocolErrorCode.MALFORMED };
        }),
      );
    }
    const big = oversized(field);
    if (big !== undefined) {
      arbs.push(big.map((bad) => (m: Fields, h: object | undefined) => ({ what: `${key} oversized`, value: set(m, key, bad), handle: h, expected: ProtocolErrorCode.OVERSIZED })));
    }
    const limit = atLimit(field);
    if (limit !== undefined) {
      arbs.push(fc.constant((m: Fields, h: object | undefined) => ({ what: `${key} at its limit`, value: set(m, key, limit), handle: h, expected: 'ok' as const })));
    }
  }
  return fc.oneof(...arbs);
}

