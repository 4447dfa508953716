// A load client in a process of its own, so that the server under test never shares an event loop
// with its client (a client that blocks its own loop proves nothing about the server). Raw sockets,
// as wrk does: every byte and every connection is the client's own to count.
//
//   node load-client.mjs '{"port":8080,"keepAlive":4,"churn":4,"method":"GET","path":"/"}'
//   node load-client.mjs '{"socketPath":"/run/app.sock","churn":4}'   (a Unix socket instead of a port)
//
// Runs until stdin ends (or says anything), finishes the requests in flight, then prints one JSON
// line: { ok, non2xx, failed, errors: { why: count }, keepAliveConnections, churnRequests }.
// - keepAlive loops each hold one connection and send requests on it one after another; a
//   connection the server closes between requests is opened again and counted in
//   keepAliveConnections (4 loops that never reconnect open exactly 4).
// - churn loops open a connection per request (`Connection: close`).
// A request fails when its connection closes or errors before a whole response came.
import net from 'node:net';

const options = JSON.parse(process.argv[2] ?? '{}');
const host = options.host ?? '127.0.0.1';
const method = options.method ?? 'GET';
const path = options.path ?? '/';
const body = options.body ?? (method === 'POST' ? 'x'.repeat(64) : '');
const result = { ok: 0, non2xx: 0, failed: 0, errors: {}, keepAliveConnections: 0, churnRequests: 0 };
let stopping = false;

const fail = (why) => {
  result.failed++;
  result.errors[why] = (result.errors[why] ?? 0) + 1;
};

function request(keepAlive) {
  const head = `${method} ${path} HTTP/1.1\r\nHost: ${host}\r\n${keepAlive ? '' : 'Connection: close\r\n'}${body ? `Content-Length: ${Buffer.byteLength(body)}\r\n` : ''}\r\n`;
  return head + body;
}

/**
 * Reads one HTTP/1.1 response at a time from a socket: `next()` resolves with
 * `{ status, close }` for a whole response, or `{ error }` when the socket ends first.
 */
function responses(socket) {
  let buffer = Buffer.alloc(0);
  let waiting;
  let ended;
  const tryParse = () => {
    if (waiting === undefined) return;
    const end = buffer.indexOf('\r\n\r\n');
    if (end >= 0) {
      const headers = buffer.subarray(0, end).toString('latin1');
      const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(headers)?.[1] ?? 0);
      if (buffer.length >= end + 4 + length) {
        buffer = buffer.subarray(end + 4 + length);
        const status = Number(headers.slice(9, 12));
        const resolve = waiting;
        waiting = undefined;
        resolve({ status, close: /\r\nconnection:\s*close/i.test(headers) });
        return;
      }
    }
    if (ended !== undefined) {
      const resolve = waiting;
      waiting = undefined;
      resolve({ error: buffer.length > 0 ? 'partial response' : ended });
    }
  };
  socket.on('data', (chunk) => {
    buffer = Buffer.concat([buffer, chunk]);
    tryParse();
  });
  socket.on('error', (error) => {
    ended ??= error.code ?? error.message;
    tryParse();
  });
  socket.on('close', () => {
    ended ??= 'closed unanswered';
    tryParse();
  });
  return {
    next: () => new Promise((resolve) => {
      waiting = resolve;
      tryParse();
    }),
    get ended() {
      return ended !== undefined;
    },
  };
}

function connect() {
  return new Promise((resolve) => {
    const socket = options.socketPath === undefined ? net.connect({ port: options.port, host }) : net.connect({ path: options.socketPath });
    const reader = responses(socket);
    socket.once('connect', () => resolve({ socket, reader }));
    socket.once('error', (error) => resolve({ error: error.code ?? error.message }));
  });
}

function record(answer) {
  if (answer.error !== undefined) fail(answer.error);
  else if (answer.status >= 200 && answer.status < 300) result.ok++;
  else {
    result.non2xx++;
    result.errors[`status ${answer.status}`] = (result.errors[`status ${answer.status}`] ?? 0) + 1;
  }
}

async function keepAliveLoop() {
  let conn;
  while (!stopping) {
    if (conn === undefined || conn.reader.ended) {
      conn?.socket.destroy();
      conn = await connect();
      if (conn.error !== undefined) {
        fail(conn.error);
        conn = undefined;
        continue;
      }
      result.keepAliveConnections++;
    }
    const answer = conn.reader.next();
    conn.socket.write(request(true));
    const got = await answer;
    record(got);
    if (got.error !== undefined || got.close) {
      conn.socket.destroy();
      conn = undefined;
    }
  }
  conn?.socket.end();
}

async function churnLoop() {
  while (!stopping) {
    const conn = await connect();
    result.churnRequests++;
    if (conn.error !== undefined) {
      fail(conn.error);
      continue;
    }
    const answer = conn.reader.next();
    conn.socket.write(request(false));
    record(await answer);
    conn.socket.destroy();
  }
}

const loops = [...Array.from({ length: options.keepAlive ?? 0 }, keepAliveLoop), ...Array.from({ length: options.churn ?? 0 }, churnLoop)];
const stop = () => {
  stopping = true;
};
process.stdin.on('data', stop);
process.stdin.on('end', stop);
process.stdin.on('error', stop);
await Promise.all(loops);
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(0);
