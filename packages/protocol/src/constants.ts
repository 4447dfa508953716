/** The protocol's name. */
export const PROTOCOL_NAME = 'handoff';

/** The protocol version this package speaks. A peer on another version is refused. */
export const PROTOCOL_VERSION = 2;

/**
 * The tag on every handoff message. Node routes any IPC message whose `cmd` starts with `NODE_` to
 * the internal `'internalMessage'` event instead of `'message'` (see `isInternal()` in Node's
 * `lib/internal/child_process.js`), which is how `node:cluster` keeps its traffic away from user
 * code. handoff rides the same rule, so the user's `process.on('message')` never sees ours and
 * ours never sees theirs.
 */
export const PROTOCOL_CMD = 'NODE_HANDOFF';

/**
 * Largest `head` (bytes read before dispatch) a `connection` message may carry, in bytes, and
 * largest `proxy` header. A primary that reads a PROXY protocol header stops reading as soon as the
 * header is complete, but the read that completed it may hold up to 64 KiB (one libuv read) of
 * payload after it, which must travel too.
 */
export const MAX_HEAD_BYTES = 64 * 1024;

/**
 * Largest `payload` of a `connection` or `return` message, in bytes: a PROXY header of at most
 * {@link MAX_HEAD_BYTES}, the bytes read after it (at most one 64 KiB read), and the payload's
 * 5-byte prefix (see `encodeConnectionPayload`).
 */
export const MAX_PAYLOAD_BYTES = 2 * MAX_HEAD_BYTES + 5;

/** The highest `bind.index`: how many servers of one worker may listen on one address at once, less one. */
export const MAX_LISTEN_INDEX = 65535;

/** Longest string field (error messages, capabilities, paths) the decoder accepts. */
export const MAX_STRING = 4096;

/** Longest `metrics.data` (the app's metrics as JSON) the decoder accepts, in characters. */
export const MAX_METRICS_CHARS = 4 * 1024 * 1024;

/**
 * The environment a primary gives each worker it forks: the names both ends read, defined once.
 * `HANDOFF_WORKER_ID` is what tells `@handoff/worker` it runs under a primary.
 */
export const WorkerEnv = {
  /** The worker's id, unique for the primary's lifetime; its presence (with an IPC channel) means "under a primary". */
  WORKER_ID: 'HANDOFF_WORKER_ID',
  /** The worker's slot, 0 to n-1, kept by its replacements (crash, reload, recycle). */
  INSTANCE: 'HANDOFF_INSTANCE',
  /** The worker count the primary aims at when it forks the worker (`workers`, then each `scale()`): a worker forked before a scale keeps the count it was told. */
  INSTANCES: 'HANDOFF_INSTANCES',
  /** Milliseconds a worker may coalesce load changes before reporting them; empty: its default; 0: every turn. */
  LOAD_COALESCE_MS: 'HANDOFF_LOAD_COALESCE_MS',
  /** The primary's `drainTimeout`: how long a worker that drains on its own (SIGTERM to it alone) may take. */
  DRAIN_TIMEOUT_MS: 'HANDOFF_DRAIN_TIMEOUT_MS',
} as const;
