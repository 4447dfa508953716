import { MAX_HEAD_BYTES, MAX_LISTEN_INDEX, MAX_PAYLOAD_BYTES, MAX_METRICS_CHARS, MAX_STRING, PROTOCOL_CMD, PROTOCOL_VERSION } from './constants.js';
import { HandoffProtocolError, ProtocolErrorCode } from './errors.js';
import type { HandoffMessage, HandoffMessageType, ListenAddress } from './messages.js';

/** What {@link decodeMessage} returns: the message, or the typed reason it was refused. */
export type DecodeResult<M extends HandoffMessage = HandoffMessage> =
  | { readonly ok: true; readonly message: M }
  | { readonly ok: false; readonly error: HandoffProtocolError };

type Fields = Record<string, unknown>;
/** Why a body is wrong: a reason (`MALFORMED`), or `{ oversized }` when a field is only too large. */
type Problem = string | { readonly oversized: string } | undefined;
/** Returns what is wrong with the body, or `undefined` when it is right. */
type Check = (m: Fields) => Problem;

const isInt = (x: unknown, min = 0, max = Number.MAX_SAFE_INTEGER): boolean =>
  typeof x === 'number' && Number.isInteger(x) && x >= min && x <= max;
const isNum = (x: unknown): boolean => typeof x === 'number' && Number.isFinite(x) && x >= 0;

/** A string field of at most `max` characters; `optional` lets it be absent. */
function checkStr(m: Fields, key: string, max: number, optional = false): Problem {
  const x = m[key];
  if (x === undefined && optional) return undefined;
  if (typeof x !== 'string') return `${key} must be a string`;
  return x.length <= max ? undefined : { oversized: `${key} is longer than ${max} characters` };
}

function checkAddress(a: unknown): Problem {
  if (typeof a !== 'object' || a === null) return 'address must be an object';
  const addr = a as Fields;
  if ('path' in addr) {
    if (addr.path === '') return 'address.path must be a non-empty string';
    return checkStr(addr, 'path', MAX_STRING);
  }
  if (!isInt(addr.port, 0, 65535)) return 'address.port must be an integer in 0..65535';
  if (addr.ipv6Only !== undefined && typeof addr.ipv6Only !== 'boolean') return 'address.ipv6Only must be a boolean';
  return checkStr(addr, 'host', 255, true);
}

function checkCodeAndMessage(m: Fields): Problem {
  return checkStr(m, 'code', 128) ?? checkStr(m, 'message', MAX_STRING);
}

/** `load.proxyRefused`: counts by error code; a few codes exist, so more than 32 is no honest report. */
function checkProxyRefused(value: unknown): Problem {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'proxyRefused must be an object of counts';
  const entries = Object.entries(value);
  if (entries.length > 32) return { oversized: 'proxyRefused holds more than 32 codes' };
  for (const [code, n] of entries) {
    if (code.length > 128) return { oversized: 'proxyRefused codes must be at most 128 characters' };
    if (!isInt(n)) return 'proxyRefused counts must be non-negative integers';
  }
  return undefined;
}

/** `connection.payload`, `return.payload`: base64 of at most {@link MAX_PAYLOAD_BYTES}. */
function checkPayload(m: Fields): Problem {
  if (m.payload === undefined) return undefined;
  if (typeof m.payload !== 'string') return 'payload must be a base64 string';
  if (m.payload.length > MAX_PAYLOAD_CHARS) return { oversized: `payload is larger than ${MAX_PAYLOAD_BYTES} bytes` };
  return BASE64.test(m.payload) ? undefined : 'payload must be a base64 string';
}

/** `listen.proxy`: how the worker reads PROXY protocol headers. */
function checkListenProxy(p: unknown): Problem {
  if (p === undefined) return undefined;
  if (typeof p !== 'object' || p === null || Array.isArray(p)) return 'proxy must be an object { timeout, maxHeaderBytes, trusted? }';
  const proxy = p as Fields;
  if (!isInt(proxy.timeout, 1, 2_147_483_647)) return 'proxy.timeout must be an integer in 1..2147483647 (ms)';
  if (!isInt(proxy.maxHeaderBytes, 107, MAX_HEAD_BYTES)) return `proxy.maxHeaderBytes must be an integer in 107..${MAX_HEAD_BYTES}`;
  if (proxy.trusted === undefined) return undefined;
  if (!Array.isArray(proxy.trusted)) return 'proxy.trusted must be an array of CIDR strings';
  if (proxy.trusted.length > 1024) return { oversized: 'proxy.trusted has more than 1024 entries' };
  for (const entry of proxy.trusted as unknown[]) {
    if (typeof entry !== 'string') return 'proxy.trusted must be an array of CIDR strings';
    if (entry.length > 64) return { oversized: 'a proxy.trusted entry is longer than 64 characters' };
  }
  return undefined;
}


const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
/** Base64 length of {@link MAX_PAYLOAD_BYTES} bytes. */
const MAX_PAYLOAD_CHARS = Math.ceil(MAX_PAYLOAD_BYTES / 3) * 4;

/** The integer counters of `load`; one array, not one per decoded message. */
const LOAD_COUNTS = ['open', 'closed', 'requests', 'rss', 'heapUsed'] as const;

/** Per type: whether a handle must come with it, and the check of its fields. */
const SCHEMA: Record<HandoffMessageType, { readonly handle: 'required' | 'forbidden' | 'optional'; readonly check: Check }> = {
  hello: {
    handle: 'forbidden',
    check: (m) => {
      if (!isInt(m.pid, 1)) return 'pid must be a positive integer';
      const caps = m.capabilities;
      if (!Array.isArray(caps)) return 'capabilities must be an array of strings';
      if (caps.length > 64) return { oversized: 'capabilities holds more than 64 entries' };
      for (let i = 0; i < caps.length; i++) {
        const c: unknown = caps[i];
        if (typeof c !== 'string') return 'capabilities must hold strings';
        if (c.length > 64) return { oversized: 'capabilities must hold strings of at most 64 characters' };
      }
      return undefined;
    },
  },
  ready: { handle: 'forbidden', check: () => undefined },
  load: {
    handle: 'forbidden',
    check: (m) => {
      for (let i = 0; i < LOAD_COUNTS.length; i++) {
        const k = LOAD_COUNTS[i]!;
        if (!isInt(m[k])) return `${k} must be a non-negative integer`;
      }
      if (!isNum(m.eventLoopDelay)) return 'eventLoopDelay must be a non-negative number';
      if (m.eventLoopDelayP50 !== undefined && !isNum(m.eventLoopDelayP50)) return 'eventLoopDelayP50 must be a non-negative number';
      if (m.paused !== undefined && typeof m.paused !== 'boolean') return 'paused must be a boolean';
      if (m.proxyRefused !== undefined) return checkProxyRefused(m.proxyRefused);
      return undefined;
    },
  },
  pong: { handle: 'forbidden', check: (m) => (isInt(m.seq) ? undefined : 'seq must be a non-negative integer') },
  error: { handle: 'forbidden', check: checkCodeAndMessage },
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
      if (m.backlog !== undefined && !isInt(m.backlog, 1, 1 << 20)) return 'backlog must be an integer in 1..1048576';
      if (m.index !== undefined && !isInt(m.index, 0, MAX_LISTEN_INDEX)) return `index must be an integer in 0..${MAX_LISTEN_INDEX}`;
      if (m.exclusive !== undefined && typeof m.exclusive !== 'boolean') return 'exclusive must be a boolean';
      if (m.ipv6Only !== undefined && typeof m.ipv6Only !== 'boolean') return 'ipv6Only must be a boolean';
      return checkAddress(m.address);
    },
  },
  unlisten: { handle: 'forbidden', check: (m) => (isInt(m.listener) ? undefined : 'listener must be a non-negative integer') },
  unlistened: { handle: 'forbidden', check: (m) => (isInt(m.listener) ? undefined : 'listener must be a non-negative integer') },
  return: {
    handle: 'required',
    check: (m) => {
      if (!isInt(m.listener)) return 'listener must be a non-negative integer';
      if (!isInt(m.id, 1)) return 'id must be a positive integer';
      if (m.reason !== undefined && m.reason !== 'moved') return "reason must be 'moved'";
      if (m.reused !== undefined && typeof m.reused !== 'boolean') return 'reused must be a boolean';
      return checkPayload(m);
    },
  },
  metrics: {
    handle: 'forbidden',
    check: (m) => (isInt(m.seq) ? (checkStr(m, 'data', MAX_METRICS_CHARS, true) ?? checkStr(m, 'error', MAX_STRING, true)) : 'seq must be a non-negative integer'),
  },
  'bind-error': {
    handle: 'forbidden',
    check: (m) => (isInt(m.request, 1) ? checkCodeAndMessage(m) : 'request must be a positive integer'),
  },
  limit: { handle: 'forbidden', check: (m) => (isInt(m.open, 1) ? undefined : 'open must be a positive integer') },
  listen: {
    // The handle comes in mode `shared` only; checked below, because it depends on `mode`.
    handle: 'optional',
    check: (m) => {
      if (!isInt(m.listener)) return 'listener must be a non-negative integer';
      if (!isInt(m.listeners, 1, 1024) || (m.listener as number) >= (m.listeners as number)) return 'listeners must be an integer in 1..1024, above listener';
      if (m.mode !== 'primary' && m.mode !== 'shared' && m.mode !== 'reuseport') return "mode must be 'primary', 'shared' or 'reuseport'";
      if (m.backlog !== undefined && !isInt(m.backlog, 1, 1 << 20)) return 'backlog must be an integer in 1..1048576';
      if (m.request !== undefined && !isInt(m.request, 1)) return 'request must be a positive integer';
      if (m.limit !== undefined && !isInt(m.limit, 1)) return 'limit must be a positive integer';
      return checkListenProxy(m.proxy) ?? checkAddress(m.address);
    },
  },
  connection: {
    handle: 'required',
    check: (m) => {
      if (!isInt(m.listener)) return 'listener must be a non-negative integer';
      if (!isInt(m.id, 1)) return 'id must be a positive integer';
      if (m.reason !== undefined && m.reason !== 'moved') return "reason must be 'moved'";
      if (m.reused !== undefined && typeof m.reused !== 'boolean') return 'reused must be a boolean';
      return checkPayload(m);
    },
  },
  ping: { handle: 'forbidden', check: (m) => (isInt(m.seq) ? undefined : 'seq must be a non-negative integer') },
  drain: {
    handle: 'forbidden',
    check: (m) => {
      if (!isInt(m.timeout, 0, 2_147_483_647)) return 'timeout must be an integer in 0..2147483647 (ms)';
      return m.move === undefined || typeof m.move === 'boolean' ? undefined : 'move must be a boolean';
    },
  },
  shutdown: { handle: 'forbidden', check: () => undefined },
  'metrics-request': { handle: 'forbidden', check: (m) => (isInt(m.seq) ? undefined : 'seq must be a non-negative integer') },
};

/** Every message type the protocol knows. */
export const MESSAGE_TYPES = Object.keys(SCHEMA) as HandoffMessageType[];

/** A short, safe description of a value from the wire (no `toString` of the peer's objects is called). */
function describe(x: unknown): string {
  if (typeof x === 'string') return JSON.stringify(x.slice(0, 64));
  if (typeof x === 'number' || typeof x === 'boolean' || x === undefined || x === null) return String(x);
  return `(${typeof x})`;
}

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
    // A message with no usable version is malformed; one with another version is from another peer.
    if (!isInt(m.v)) return fail(ProtocolErrorCode.MALFORMED, `malformed message: v must be a protocol version (a non-negative integer), got ${describe(m.v)}`, value);
    if (m.v !== PROTOCOL_VERSION) {
      return fail(
        ProtocolErrorCode.VERSION,
        `protocol version mismatch: this side speaks handoff protocol v${PROTOCOL_VERSION}, the peer sent v${describe(m.v)}; install the same version of @handoff/orchestrator and @handoff/worker`,
        value,
      );
    }
    const type = m.type;
    const schema = typeof type === 'string' && Object.hasOwn(SCHEMA, type) ? SCHEMA[type as HandoffMessageType] : undefined;
    if (schema === undefined) {
      return fail(ProtocolErrorCode.UNKNOWN_TYPE, `unknown handoff message type ${describe(type)}`, value);
    }
    const problem = schema.check(m);
    if (typeof problem === 'string') return fail(ProtocolErrorCode.MALFORMED, `malformed '${type as string}' message: ${problem}`, value);
    if (problem !== undefined) return fail(ProtocolErrorCode.OVERSIZED, `oversized '${type as string}' message: ${problem.oversized}`, value);
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
