import { Socket, type SocketConstructorOpts } from 'node:net';

/**
 * Wraps a connection's native handle, received from the primary, in a `net.Socket`, putting back
 * any bytes the primary read first. The caller hands it to the server through `'connection'`, the
 * entry point of every Node server (http, https, http2, tls, net), as net.Server's accept does.
 */
export function socketFromHandle(handle: unknown, allowHalfOpen: boolean, head: string | undefined): Socket {
  const socket = new Socket({ handle, readable: true, writable: true, allowHalfOpen } as SocketConstructorOpts);
  if (head !== undefined && head.length > 0) socket.unshift(Buffer.from(head, 'base64'));
  return socket;
}
