import fc from 'fast-check';
import { createMessage, MAX_HEAD_BYTES, MAX_METRICS_CHARS, MAX_PAYLOAD_BYTES, type HandoffMessage, type HandoffMessageType } from '@handoff/protocol';

/**
 * The protocol's messages written down a second time, independently of `decode.ts`: each field's
 * kind and range. The property tests derive valid messages and single-fault mutations from it, so
 * a decoder that drifts from this table (or from PROTOCOL.md, which has the same table) fails.
 */

/** Stands in for a native handle: the decoder checks presence only. */
export const FAKE_HANDLE = Object.freeze({ fd: 3 });

const MAX_INT = Number.MAX_SAFE_INTEGER;
/** Base64 length of the largest `payload` (the field kind `head`). */
export const MAX_HEAD_CHARS = Math.ceil(MAX_PAYLOAD_BYTES / 3) * 4;

type Fields = Record<string, unknown>;

/** One field of a message body. */
export type Field =
  | { kind: 'int'; min: number; max: number | ((m: Fields) => number); optional?: boolean }
  | { kind: 'num'; optional?: boolean }
  | { kind: 'bool'; optional?: boolean }
  | { kind: 'str'; max: number; optional?: boolean }
  | { kind: 'enum'; values: readonly string[]; optional?: boolean }
  | { kind: 'head'; optional: true }
  | { kind: 'proxy'; optional: true }
  | { kind: 'caps'; optional?: false }
  | { kind: 'counts'; optional: true }
  | { kind: 'address'; optional?: false };

/** When a handle must come with a message. */
export type HandleRule = 'required' | 'forbidden' | 'shared-only';

export interface MessageSpec {
  readonly direction: 'worker->primary' | 'primary->worker';
  readonly handle: HandleRule;
  readonly fields: Readonly<Record<string, Field>>;
  /** Overrides the derived arbitrary of the body where fields depend on each other. */
  readonly body?: fc.Arbitrary<Fields>;
}

const int = (min: number, max: number | ((m: Fields) => number) = MAX_INT, optional = false): Field => ({ kind: 'int', min, max, optional });
const str = (max: number, optional = false): Field => ({ kind: 'str', max, optional });
const enm = (values: readonly string[], optional = false): Field => ({ kind: 'enum', values, optional });

const LISTEN_FIELDS: Record<string, Field> = {
  listener: int(0, (m) => (m.listeners as number) - 1),
  listeners: int(1, 1024),
  mode: enm(['primary', 'shared', 'reuseport']),
  address: { kind: 'address' },
  backlog: int(1, 1 << 20, true),
  request: int(1, MAX_INT, true),
  limit: int(1, MAX_INT, true),
  proxy: { kind: 'proxy', optional: true },
};

/** Every message type, its direction, handle and fields. */
export const SPEC: Readonly<Record<HandoffMessageType, MessageSpec>> = {
  hello: { direction: 'worker->primary', handle: 'forbidden', fields: { pid: int(1), capabilities: { kind: 'caps' } } },
  ready: { direction: 'worker->primary', handle: 'forbidden', fields: {} },
  load: {
    direction: 'worker->primary',
    handle: 'forbidden',
    fields: { open: int(0), closed: int(0), requests: int(0), eventLoopDelay: { kind: 'num' }, eventLoopDelayP50: { kind: 'num', optional: true }, rss: int(0), heapUsed: int(0), paused: { kind: 'bool', optional: true }, proxyRefused: { kind: 'counts', optional: true } },
  },
  pong: { direction: 'worker->primary', handle: 'forbidden', fields: { seq: int(0) } },
  error: { direction: 'worker->primary', handle: 'forbidden', fields: { code: str(128), message: str(4096) } },
  draining: { direction: 'worker->primary', handle: 'forbidden', fields: { phase: enm(['started', 'idle']), open: int(0) } },
  bind: {
    direction: 'worker->primary',
    handle: 'forbidden',
    fields: { request: int(1), address: { kind: 'address' }, backlog: int(1, 1 << 20, true), index: int(0, 65535, true), exclusive: { kind: 'bool', optional: true }, ipv6Only: { kind: 'bool', optional: true } },
  },
  unlisten: { direction: 'worker->primary', handle: 'forbidden', fields: { listener: int(0) } },
  return: {
    direction: 'worker->primary',
    handle: 'required',
    fields: {
      listener: int(0),
      id: int(1),
      payload: { kind: 'head', optional: true },
      reason: enm(['moved'], true),
      reused: { kind: 'bool', optional: true },
    },
  },
  metrics: { direction: 'worker->primary', handle: 'forbidden', fields: { seq: int(0), data: str(MAX_METRICS_CHARS, true), error: str(4096, true) } },
  listen: {
    direction: 'primary->worker',
    handle: 'shared-only',
    fields: LISTEN_FIELDS,
    body: fc.integer({ min: 1, max: 1024 }).chain((listeners) =>
      fc
        .record(
          {
            listener: fc.integer({ min: 0, max: listeners - 1 }),
            mode: fc.constantFrom('primary', 'shared', 'reuseport'),
            address: fieldArb({ kind: 'address' }),
            backlog: fc.integer({ min: 1, max: 1 << 20 }),
            request: fc.integer({ min: 1, max: MAX_INT }),
            limit: fc.integer({ min: 1, max: MAX_INT }),
            proxy: fieldArb({ kind: 'proxy', optional: true }),
          },
          { requiredKeys: ['listener', 'mode', 'address'] },
        )
        .map((b) => ({ ...b, listeners })),
    ),
  },
  'bind-error': { direction: 'primary->worker', handle: 'forbidden', fields: { request: int(1), code: str(128), message: str(4096) } },
  unlistened: { direction: 'primary->worker', handle: 'forbidden', fields: { listener: int(0) } },
  limit: { direction: 'primary->worker', handle: 'forbidden', fields: { open: int(1) } },
  connection: {
    direction: 'primary->worker',
    handle: 'required',
    fields: {
      listener: int(0),
      id: int(1),
      payload: { kind: 'head', optional: true },
    },
  },
  ping: { direction: 'primary->worker', handle: 'forbidden', fields: { seq: int(0) } },
  drain: { direction: 'primary->worker', handle: 'forbidden', fields: { timeout: int(0, 2_147_483_647), move: { kind: 'bool', optional: true } } },
  shutdown: { direction: 'primary->worker', handle: 'forbidden', fields: {} },
  'metrics-request': { direction: 'primary->worker', handle: 'forbidden', fields: { seq: int(0) } },
};

/** Every type in {@link SPEC}. */
export const SPEC_TYPES = Object.keys(SPEC) as HandoffMessageType[];

const shortString = (max: number): fc.Arbitrary<string> => fc.string({ maxLength: Math.min(max, 24) });

/** Valid values of one field. */
export function fieldArb(field: Field): fc.Arbitrary<unknown> {
  switch (field.kind) {
    case 'int':
      return fc.integer({ min: field.min, max: typeof field.max === 'number' ? field.max : MAX_INT });
    case 'num':
      // JSON has no -0: it would come back as 0.
      return fc.double({ min: 0, max: 1e9, noNaN: true, noDefaultInfinity: true }).map((x) => x + 0);
    case 'bool':
      return fc.boolean();
    case 'str':
      return shortString(field.max);
    case 'enum':
      return fc.constantFrom(...field.values);
    case 'head':
      return fc.uint8Array({ maxLength: 48 }).map((bytes) => Buffer.from(bytes).toString('base64'));
    case 'caps':
      return fc.array(fc.string({ maxLength: 16 }), { maxLength: 6 });
    case 'counts':
      return fc.dictionary(fc.string({ minLength: 1, maxLength: 32 }).filter((k) => k !== '__proto__'), fc.nat(), { maxKeys: 6, noNullPrototype: true });
    case 'proxy':
      return fc.record(
        { timeout: fc.integer({ min: 1, max: 2_147_483_647 }), maxHeaderBytes: fc.integer({ min: 107, max: MAX_HEAD_BYTES }), trusted: fc.array(fc.string({ maxLength: 64 }), { maxLength: 4 }) },
        { requiredKeys: ['timeout', 'maxHeaderBytes'], noNullPrototype: true },
      );
    case 'address':
      return fc.oneof(
        fc.record({ port: fc.integer({ min: 0, max: 65535 }), host: fc.constantFrom('127.0.0.1', '::1', '0.0.0.0', 'localhost'), ipv6Only: fc.boolean() }, { requiredKeys: ['port'], noNullPrototype: true }),
        fc.record({ path: fc.string({ minLength: 1, maxLength: 40 }) }, { noNullPrototype: true }),
      );
  }
}

/** Valid bodies of `type` (optional fields absent or present, never `undefined`). */
export function bodyArb(type: HandoffMessageType): fc.Arbitrary<Fields> {
  const spec = SPEC[type];
  if (spec.body !== undefined) return spec.body;
  const arbs: Record<string, fc.Arbitrary<unknown>> = {};
  const required: string[] = [];
  for (const [name, field] of Object.entries(spec.fields)) {
    arbs[name] = fieldArb(field);
    if (field.optional !== true) required.push(name);
  }
  return fc.record(arbs, { requiredKeys: required }) as fc.Arbitrary<Fields>;
}

/** Whether a valid message of this spec carries a handle. */
export function needsHandle(type: HandoffMessageType, message: Fields): boolean {
  const rule = SPEC[type].handle;
  return rule === 'required' || (rule === 'shared-only' && message.mode === 'shared');
}

/** A valid message of `type` with the handle it must carry. */
export function validArb(type: HandoffMessageType): fc.Arbitrary<{ message: HandoffMessage; handle: object | undefined }> {
  return bodyArb(type).map((body) => {
    const message = createMessage(type, body as never) as HandoffMessage;
    return { message, handle: needsHandle(type, message as unknown as Fields) ? FAKE_HANDLE : undefined };
  });
}
