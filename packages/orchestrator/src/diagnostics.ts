import { channel } from 'node:diagnostics_channel';
import { debuglog } from 'node:util';

/**
 * Every `node:diagnostics_channel` channel the primary publishes on. Nothing is logged by default:
 * subscribe to these (or to the `Primary`'s events) to log or count. Publishing costs nothing when
 * nobody subscribes.
 */
export const channels = {
  /** A worker process was forked: `{ id, pid }`. */
  spawn: channel('handoff:worker:spawn'),
  /** A worker said it is ready: `{ id, pid }`. */
  ready: channel('handoff:worker:ready'),
  /** A worker exited: `{ id, pid, code, signal, expected }`. */
  exit: channel('handoff:worker:exit'),
  /** Workers crash in a loop: `{ crashes, windowMs, nextDelayMs }`. */
  crashLoop: channel('handoff:worker:crash-loop'),
  /** A connection went to a worker: `{ id, listener, worker }`. Per connection: subscribe with care. */
  dispatch: channel('handoff:connection:dispatch'),
  /** A connection went to another worker than first chosen: `{ id, from, reason }`. */
  redispatch: channel('handoff:connection:redispatch'),
  /**
   * A draining worker gave back a connection between requests, which the primary places again:
   * `{ id, listener, from, reused }` (`reused`: an idle keep-alive connection, not a fresh one).
   */
  moved: channel('handoff:connection:moved'),
  /** A connection was answered 503 by the primary: `{ id, listener, reason }`. */
  rejected: channel('handoff:connection:rejected'),
  /**
   * A connection was closed for want of a valid PROXY protocol header (`listen.proxyProtocol`):
   * `{ listener, code, message, remoteAddress, remotePort }`. Published by the primary (mode
   * `primary`) and by workers, in their own process (the kernel modes).
   */
  proxyRefused: channel('handoff:connection:proxy-refused'),
  /**
   * A connection left the primary's wait queue: `{ listener, waitMs, outcome }`, `outcome` one of
   * `'dispatched'` (a worker took it), `'timeout'` (answered at `queueTimeout`), `'closing'`. Only
   * connections that waited are published: none while workers keep up.
   */
  queueWait: channel('handoff:connection:queue-wait'),
  /**
   * accept() failed on a listener of the primary (EMFILE, ENFILE…: out of descriptors): `{ listener,
   * code, count, intervalMs }`, once per interval per listener and code, not per connection.
   */
  acceptFailed: channel('handoff:connection:accept-failed'),
  /** A worker started draining: `{ id, pid }`. */
  drain: channel('handoff:worker:drain'),
  /** The primary's state changed: `{ from, to }`. */
  state: channel('handoff:primary:state'),
} as const;

/** `NODE_DEBUG=handoff` output, for developers of handoff. */
export const debug = debuglog('handoff');
