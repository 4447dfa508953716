import type { Socket } from 'node:net';

/**
 * Why the primary answered a connection itself (`stats().rejected`, `connection:rejected`,
 * `handoff_connections_rejected_total`): its wait queue was full (`maxPending`), it waited past
 * `queueTimeout`, the primary was closing, no worker took it in 8 tries (`attempts`), or the
 * primary kept its last file descriptors in reserve. The one list: counters and metrics iterate it.
 */
export const REJECT_REASONS = Object.freeze(['queue-full', 'queue-timeout', 'closing', 'attempts', 'descriptors'] as const);

/** One of {@link REJECT_REASONS}. */
export type RejectReason = (typeof REJECT_REASONS)[number];

/** Seconds a client is told to wait before retrying, in the primary's 503 answers. */
export const RETRY_AFTER_SECONDS = 1;

const RESPONSE_503 =
  'HTTP/1.1 503 Service Unavailable\r\n' +
  'Content-Type: text/plain; charset=utf-8\r\n' +
  `Retry-After: ${RETRY_AFTER_SECONDS}\r\n` +
  'Connection: close\r\n' +
  'Content-Length: 20\r\n' +
  '\r\n' +
  'no worker available\n';

/** How long a refused client may take to read the answer before the socket is destroyed, in ms. */
const LINGER_MS = 2000;

/**
 * Answers a connection the primary cannot place (its socket, from the transport's `toSocket`): `503 Service Unavailable` with `Retry-After` for
 * HTTP listeners, a plain close for TCP ones. The request is read and discarded first: closing a
 * socket with unread bytes makes the kernel send RST, which would destroy the answer before the
 * client reads it.
 */
export function refuseConnection(socket: Socket, protocol: 'http' | 'tcp'): void {
  socket.on('error', () => socket.destroy());
  socket.setTimeout(LINGER_MS, () => socket.destroy());
  socket.resume();
  if (protocol === 'http') socket.end(RESPONSE_503);
  else socket.end();
}
