import { Socket, type Server, type SocketConstructorOpts } from 'node:net';

/**
 * Wraps a connection's native handle, received from the primary, in a `net.Socket` built from the
 * app server's options as net.Server's accept builds it (`allowHalfOpen`, `pauseOnConnect`), putting
 * back any bytes the primary read first. The caller hands it to the server through `'connection'`,
 * the entry point of every Node server (http, https, http2, tls, net).
 */
export function socketFromHandle(handle: unknown, server: Server, head: string | undefined): Socket {
  const options = server as Server & { allowHalfOpen?: boolean; pauseOnConnect?: boolean };
  const socket = new Socket({ handle, readable: true, writable: true, allowHalfOpen: options.allowHalfOpen === true, pauseOnCreate: options.pauseOnConnect === true } as SocketConstructorOpts);
  if (head !== undefined && head.length > 0) socket.unshift(Buffer.from(head, 'base64'));
  return socket;
}
