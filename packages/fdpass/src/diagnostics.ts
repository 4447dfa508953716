import { channel } from 'node:diagnostics_channel';
import { debuglog } from 'node:util';

/**
 * The `node:diagnostics_channel` channels the transport publishes on. Nothing is logged by
 * default; publishing costs nothing when nobody subscribes.
 */
export const channels = {
  /**
   * A primary transport was created: `{ requested, transport, reason }` (`reason` says why `auto`
   * fell back to `ipc`). Once per `createPrimaryTransport()`.
   */
  selected: channel('handoff:transport:selected'),
  /** A worker was given a native link it could not use: `{ pid, reason }`. */
  workerFallback: channel('handoff:transport:worker-fallback'),
} as const;

/** `NODE_DEBUG=handoff` output, for developers of handoff. */
export const debug = debuglog('handoff');
