import { MAX_BATCH, MAX_HEAD_BYTES, MAX_STRING, PROTOCOL_CMD, PROTOCOL_VERSION } from './constants.js';
import { HandoffProtocolError, ProtocolErrorCode } from './errors.js';
import type { HandoffMessage, HandoffMessageType, ListenAddress } from './messages.js';

/** What {@link decodeMessage} returns: the message, or the typed reason it was refused. */
export type DecodeResult<M extends HandoffMessage = HandoffMessage> =
  | { readonly ok: true; readonly message: M }
  | { readonly ok: false; readonly error: HandoffProtocolError };

type Fields = Record<string, unknown>;
/** Returns a reason the body is wrong, or `undefined` when it is right. */
type Check = (m: Fields) => string | undefined;

const isInt = (x: unknown, min = 0, max = Number.MAX_SAFE_INTEGER): boolean =>
  typeof x === 'number' && Number.isInteger(x) && x >= min && x <= max;
const isNum = (x: unknown): boolean => typeof x === 'number' && Number.isFinite(x) && x >= 0;
const isStr = (x: unknown, max = MAX_STRING): boolean => typeof x === 'string' && x.length <= max;

function checkIds(ids: unknown): string | undefined {
  if (!Array.isArray(ids)) return 'ids must be an array of connection ids';
  if (ids.length > MAX_BATCH) return `ids holds ${ids.length} entries, more than ${MAX_BATCH}`;
  for (const id of ids) if (!isInt(id, 1)) return 'ids must hold positive integers';
  return undefined;
}

function checkAddress(a: unknown): string | undefined {
  if (typeof a !== 'object' || a === null) return 'address must be an object';
  const addr = a as Fields;
  if ('path' in addr) return isStr(addr.path) && addr.path !== '' ? undefined : 'address.path must be a non-empty string';
  if (!isInt(addr.port, 0, 65535)) return 'address.port must be an integer in 0..65535';
  if (addr.host !== undefined && !isStr(addr.host, 255)) return 'address.host must be a string';
  if (addr.ipv6Only !== undefined && typeof addr.ipv6Only !== 'boolean') return 'address.ipv6Only must be a boolean';
  return undefined;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Per type: whether a handle must come with it, and the check of its fields. */
const SCHEMA: Record<HandoffMessageType, { readonly handle: 'required' | 'forbidden' | 'optional'; readonly check: Check }> = {
  hello: {
    handle: 'forbidden',
    check: (m) => {
      if (!isInt(m.pid, 1)) return 'pid must be a positive integer';
      if (!Array.isArray(m.capabilities) || m.capabilities.length > 64) return 'capabilities must be an array of at most 64 strings';
      for (const c of m.capabilities) if (!isStr(c, 64)) return 'capabilities must hold strings of at most 64 characters';
      return undefined;
    },
  },
  ready: { handle: 'forbidden', check: () => undefined },
  accepted: { handle: 'forbidden', check: (m) => checkIds(m.ids) },
  refused: {
    handle: 'forbidden',
    check: (m) => {
      if (m.reason !== 'draining' && m.reason !== 'no-server' && m.reason !== 'error') return "reason must be 'draining', 'no-server' or 'error'";
      return checkIds(m.ids);
    },
  },
  load: {
    handle: 'forbidden',
    check: (m) => {
      for (const k of ['open', 'closed', 'requests', 'rss', 'heapUsed'] as const) if (!isInt(m[k])) return `${k} must be a non-negative integer`;
      if (!isNum(m.eventLoopDelay)) return 'eventLoopDelay must be a non-negative number';
      if (m.paused !== undefined && typeof m.paused !== 'boolean') return 'paused must be a boolean';
      return undefined;
    },
  },
  pong: { handle: 'forbidden', check: (m) => (isInt(m.seq) ? undefined : 'seq must be a non-negative integer') },
  error: {
    handle: 'forbidden',
    check: (m) => (isStr(m.code, 128) && isStr(m.message) ? undefined : 'code and message must be strings (code <= 128, message <= 4096 characters)'),
  },
  draining: {
    handle: 'forbidden',
    check: (m) => {
      if (m.phase !== 'started' && m.phase !== 'idle') return "phase must be 'started' or 'idle'";
      return isInt(m.open) ? undefined : 'open must be a non-negative integer';
    },
  },
  bind: {
    handle: 'forbidden',
    check: (m) => {
      if (!isInt(m.request, 1)) return 'request must be a positive integer';
      if (m.backlog !== undefined && !isInt(m.backlog, 1, 1 << 20)) return 'backlog must be a positive integer';
      return checkAddress(m.address);
    },
  },
  'bind-error': {
    handle: 'forbidden',
    check: (m) => {
      if (!isInt(m.request, 1)) return 'request must be a positive integer';
      return isStr(m.code, 128) && isStr(m.message) ? undefined : 'code and message must be strings (code <= 128, message <= 4096 characters)';
    },
  },
  limit: { handle: 'forbidden', check: (m) => (isInt(m.open, 1) ? undefined : 'open must be a positive integer') },
  listen: {
    // The handle comes in mode `shared` only; checked below, because it depends on `mode`.
    handle: 'optional',
    check: (m) => {
      if (!isInt(m.listener)) return 'listener must be a non-negative integer';
      if (!isInt(m.listeners, 1, 1024) || (m.listener as number) >= (m.listeners as number)) return 'listeners must be an integer in 1..1024, above listener';
      if (m.mode !== 'primary' && m.mode !== 'shared' && m.mode !== 'reuseport') return "mode must be 'primary', 'shared' or 'reuseport'";
      if (m.backlog !== undefined && !isInt(m.backlog, 1, 1 << 20)) return 'backlog must be a positive integer';
      if (m.request !== undefined && !isInt(m.request, 1)) return 'request must be a positive integer';
      if (m.limit !== undefined && !isInt(m.limit, 1)) return 'limit must be a positive integer';
      return checkAddress(m.address);
    },
  },
  connection: {
    handle: 'required',
    check: (m) => {
      if (!isInt(m.listener)) return 'listener must be a non-negative integer';
      if (!isInt(m.id, 1)) return 'id must be a positive integer';
      if (m.head !== undefined) {
        if (typeof m.head !== 'string') return 'head must be a base64 string';
        if (m.head.length > Math.ceil(MAX_HEAD_BYTES / 3) * 4) return 'oversized';
        if (!BASE64.test(m.head)) return 'head must be a base64 string';
      }
      return undefined;
    },
  },
  ping: { handle: 'forbidden', check: (m) => (isInt(m.seq) ? undefined : 'seq must be a non-negative integer') },
  drain: { handle: 'forbidden', check: (m) => (isInt(m.timeout, 0, 2_147_483_647) ? undefined : 'timeout must be a non-negative integer (ms)') },
  shutdown: { handle: 'forbidden', check: () => undefined },
};

/** Every message type the protocol knows. */
export const MESSAGE_TYPES = Object.keys(SCHEMA) as HandoffMessageType[];

function fail(code: ProtocolErrorCode, message: string, received: unknown): DecodeResult<never> {
  return { ok: false, error: new HandoffProtocolError(code, message, received) };
}

/**
 * Validates a value that arrived on the IPC channel (and the handle that came with it) as a handoff
 * message of this protocol version. Never throws: any wrong input becomes a typed
 * {@link HandoffProtocolError} with what arrived.
 */
export function decodeMessage(value: unknown, handle?: unknown): DecodeResult {
  try {
    if (typeof value !== 'object' || value === null || (value as Fields).cmd !== PROTOCOL_CMD) {
      return fail(ProtocolErrorCode.MALFORMED, 'not a handoff message', value);
    }
    const m = value as Fields;
    if (m.v !== PROTOCOL_VERSION) {
      return fail(
        ProtocolErrorCode.VERSION,
        `protocol version mismatch: this side speaks handoff protocol v${PROTOCOL_VERSION}, the peer sent v${String(m.v)}; install the same version of @handoff/orchestrator and @handoff/worker`,
        value,
      );
    }
    const type = m.type;
    const schema = typeof type === 'string' && Object.hasOwn(SCHEMA, type) ? SCHEMA[type as HandoffMessageType] : undefined;
    if (schema === undefined) {
      return fail(ProtocolErrorCode.UNKNOWN_TYPE, `unknown handoff message type ${JSON.stringify(String(type)).slice(0, 80)}`, value);
    }
    const problem = schema.check(m);
    if (problem === 'oversized') {
      return fail(ProtocolErrorCode.OVERSIZED, `${String(type)}: head is larger than ${MAX_HEAD_BYTES} bytes`, value);
    }
    if (problem !== undefined) {
      const code = /more than/.test(problem) ? ProtocolErrorCode.OVERSIZED : ProtocolErrorCode.MALFORMED;
      return fail(code, `malformed '${String(type)}' message: ${problem}`, value);
    }
    const hasHandle = handle !== undefined && handle !== null;
    const needsHandle = schema.handle === 'required' || (type === 'listen' && m.mode === 'shared');
    const forbidsHandle = schema.handle === 'forbidden' || (type === 'listen' && m.mode !== 'shared');
    if (needsHandle && !hasHandle) {
      return fail(ProtocolErrorCode.HANDLE, `'${String(type)}' message arrived without its handle`, value);
    }
    if (forbidsHandle && hasHandle) {
      return fail(ProtocolErrorCode.HANDLE, `'${String(type)}' message must not carry a handle`, value);
    }
    return { ok: true, message: m as unknown as HandoffMessage };
  } catch (error) {
    // Getters or proxies on a hostile value could throw: the decoder never does.
    return { ok: false, error: new HandoffProtocolError(ProtocolErrorCode.MALFORMED, 'message could not be read', value, { cause: error }) };
  }
}

/** Type of the `address` field: a TCP address when it has a port, a Unix socket otherwise. */
export function isPathAddress(address: ListenAddress): address is { readonly path: string } {
  return 'path' in address;
}
