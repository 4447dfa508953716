/**
 * The control protocol: newline-delimited JSON over the control socket. Every message carries
 * `v` (this version); a request has an `id` and a `cmd`, and gets zero or more `progress` replies
 * with its `id`, then exactly one `result` or `error`.
 *
 * ```
 * -> {"v":1,"id":1,"cmd":"scale","args":{"workers":"+1"}}
 * <- {"v":1,"id":1,"type":"progress","message":"worker 2 (pid 4242) ready","data":{...}}
 * <- {"v":1,"id":1,"type":"result","data":{"workers":3}}
 * ```
 *
 * `logs` streams every log record as a `progress` reply (its `data`) until the client closes.
 */
export const CONTROL_VERSION = 1;

/** Longest request line accepted; a longer one is answered with an error and the socket closed. */
export const MAX_REQUEST_BYTES = 64 * 1024;

/** The commands a primary answers. */
export const CONTROL_COMMANDS = ['status', 'reload', 'scale', 'stop', 'logs', 'upgrade'] as const;
/** One of {@link CONTROL_COMMANDS}. */
export type ControlCommand = (typeof CONTROL_COMMANDS)[number];

/** A request, as checked at the boundary. */
export interface ControlRequest {
  readonly v: number;
  readonly id: number;
  readonly cmd: ControlCommand;
  readonly args: Readonly<Record<string, unknown>>;
}

/** A reply from the primary. */
export type ControlReply =
  | { readonly v: number; readonly id: number; readonly type: 'progress'; readonly message: string; readonly data?: unknown }
  | { readonly v: number; readonly id: number; readonly type: 'result'; readonly data: unknown }
  | { readonly v: number; readonly id: number | null; readonly type: 'error'; readonly code: string; readonly message: string };

/** Codes of control errors on the wire. */
export const ControlErrorCode = {
  MALFORMED: 'HANDOFF_ERR_CONTROL_MALFORMED',
  VERSION: 'HANDOFF_ERR_CONTROL_VERSION',
  UNKNOWN_COMMAND: 'HANDOFF_ERR_CONTROL_UNKNOWN_COMMAND',
  OVERSIZED: 'HANDOFF_ERR_CONTROL_OVERSIZED',
  BUSY: 'HANDOFF_ERR_CONTROL_BUSY',
  FAILED: 'HANDOFF_ERR_CONTROL_FAILED',
} as const;

/** Reads one request line: a checked request, or the error to answer with. */
export function decodeRequest(line: string): ControlRequest | { readonly error: { readonly id: number | null; readonly code: string; readonly message: string } } {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { error: { id: null, code: ControlErrorCode.MALFORMED, message: 'a request is one line of JSON: {"v":1,"id":1,"cmd":"status"}' } };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { error: { id: null, code: ControlErrorCode.MALFORMED, message: 'a request is a JSON object' } };
  const r = value as Record<string, unknown>;
  const id = typeof r.id === 'number' && Number.isSafeInteger(r.id) ? r.id : null;
  if (id === null) return { error: { id: null, code: ControlErrorCode.MALFORMED, message: 'a request needs an integer id' } };
  if (r.v !== CONTROL_VERSION) return { error: { id, code: ControlErrorCode.VERSION, message: `this primary speaks control protocol v${CONTROL_VERSION}, the request says v${JSON.stringify(r.v)}; use the handoff command of the same version` } };
  if (typeof r.cmd !== 'string' || !(CONTROL_COMMANDS as readonly string[]).includes(r.cmd)) {
    return { error: { id, code: ControlErrorCode.UNKNOWN_COMMAND, message: `unknown command ${JSON.stringify(r.cmd)}; commands: ${CONTROL_COMMANDS.join(', ')}` } };
  }
  if (r.args !== undefined && (typeof r.args !== 'object' || r.args === null || Array.isArray(r.args))) return { error: { id, code: ControlErrorCode.MALFORMED, message: 'args must be an object' } };
  return { v: CONTROL_VERSION, id, cmd: r.cmd as ControlCommand, args: (r.args as Record<string, unknown> | undefined) ?? {} };
}

/** One reply line. */
export function encodeReply(reply: ControlReply): string {
  return `${JSON.stringify(reply)}\n`;
}
