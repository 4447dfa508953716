// The observable behaviours of a server, one function each: run against an arm, each returns an
// outcome that must be the same whether the server listens itself or is served under a primary.
// Outcomes hold no pids, ports or timings, only what an app or a client can tell apart.
import { execFile } from 'node:child_process';
import http2 from 'node:http2';
import { promisify } from 'node:util';
import { mark, type Arm } from './arms.js';
import { getOnce, RawClient, type RawResponse } from './client.js';

const run = promisify(execFile);
const statusOf = (r: RawResponse | 'closed'): number | 'closed' => (r === 'closed' ? 'closed' : r.status);
const pidOf = (r: RawResponse | 'closed'): number => (r === 'closed' ? -1 : Number(r.headers['x-pid']));

/** The events the server emitted for one plain request, in order, and what it answered. */
export async function requestEvents(arm: Arm): Promise<unknown> {
  const from = mark(arm);
  const response = await getOnce(arm, '/');
  const pid = pidOf(response);
  // 'listening' came once, before any connection, in the process that served.
  const listening = arm.log().filter((l) => l.pid === pid && l.e === 'listening').length;
  return { status: statusOf(response), events: arm.events(pid, from), listening };
}

/** `listening`, `address()` (the port clients reach) and `getConnections()` while a connection is open. */
export async function serverState(arm: Arm): Promise<unknown> {
  const client = await RawClient.connect(arm);
  const response = await client.get('/state');
  client.destroy();
  if (response === 'closed') return 'closed';
  const state = JSON.parse(response.body) as { listening: boolean; address: { address: string; family: string; port: number }; connections: number; maxConnections: unknown };
  return { listening: state.listening, address: { ...state.address, port: state.address.port === arm.port }, connections: state.connections, maxConnections: state.maxConnections };
}

/** The socket as the app sees it: both ends' addresses and ports, TLS, TCP_NODELAY. */
export async function socketView(arm: Arm): Promise<unknown> {
  const client = await RawClient.connect(arm);
  const response = await client.get('/socket');
  const local = { address: client.socket.localAddress, port: client.socket.localPort };
  client.destroy();
  if (response === 'closed') return 'closed';
  const view = JSON.parse(response.body) as Record<string, unknown>;
  return { ...view, remotePort: view.remotePort === local.port, localPort: view.localPort === arm.port, remoteAddress: view.remoteAddress === local.address };
}

/** Over `maxConnections`, a connection is closed unanswered and the server emits `'drop'`. */
export async function maxConnections(arm: Arm): Promise<unknown> {
  const first = await RawClient.connect(arm);
  const set = await first.get('/max?n=1');
  const pid = pidOf(set);
  const from = mark(arm);
  // The same worker must get the second one: in mode primary round-robin alternates, so try until
  // a connection lands on the worker with the limit (others answer).
  let refused = false;
  for (let i = 0; i < 6 && !refused; i++) {
    const second = await RawClient.connect(arm);
    second.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    const answer = await second.response();
    refused = answer === 'closed';
    second.destroy();
  }
  const dropped = arm.events(pid, from).includes('drop');
  await first.get('/max?n=none');
  first.destroy();
  return { refused, dropped };
}

/** A client that trickles header lines is answered 408 once `headersTimeout` passed. */
export async function headersTimeout(arm: Arm): Promise<unknown> {
  const client = await RawClient.connect(arm);
  client.write('GET / HTTP/1.1\r\nHost: x\r\n');
  const timer = setInterval(() => client.write(`X-Trickle-${Date.now()}: y\r\n`), 100);
  try {
    return { status: statusOf(await client.response(5000)) };
  } finally {
    clearInterval(timer);
    client.destroy();
  }
}

/** A client that trickles its body is answered 408 once `requestTimeout` passed. */
export async function requestTimeout(arm: Arm): Promise<unknown> {
  const client = await RawClient.connect(arm);
  client.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n');
  const timer = setInterval(() => client.write('x'), 100);
  try {
    return { status: statusOf(await client.response(5000)) };
  } finally {
    clearInterval(timer);
    client.destroy();
  }
}

/** A keep-alive socket left idle is closed by the server after `keepAliveTimeout`. */
export async function keepAliveTimeout(arm: Arm): Promise<unknown> {
  const client = await RawClient.connect(arm);
  const response = await client.get('/');
  const closed = await client.closedWithin(3000);
  client.destroy();
  return { status: statusOf(response), keepAlive: response !== 'closed' && response.headers['keep-alive'], closedByServer: closed };
}

/** `server.setTimeout(ms)`: an idle socket times out (`'timeout'`) and, with no listener of the app's, is destroyed. */
export async function serverTimeout(arm: Arm): Promise<unknown> {
  const setter = await RawClient.connect(arm);
  const set = await setter.get('/timeout?ms=250');
  const pid = pidOf(set);
  const from = mark(arm);
  // The socket that asked gets no timeout (set after it was accepted); a new one does.
  let closed = false;
  for (let i = 0; i < 4 && !closed; i++) {
    const idle = await RawClient.connect(arm);
    closed = await idle.closedWithin(1500);
    idle.destroy();
  }
  const timedOut = arm.events(pid, from).includes('timeout');
  await setter.get('/timeout?ms=0');
  setter.destroy();
  return { closed, timedOut };
}

/** `closeIdleConnections()` closes an idle keep-alive socket; `closeAllConnections()` every socket. */
export async function closeConnections(arm: Arm): Promise<unknown> {
  const idle = await RawClient.connect(arm);
  await idle.get('/');
  const order = await RawClient.connect(arm);
  const answered = await order.get('/close-idle');
  const idleClosed = await idle.closedWithin(2000);
  // The socket that asked was busy with its own request: it stays open.
  const askerOpen = !(await order.closedWithin(100));
  idle.destroy();
  // closeAllConnections: a slow request in flight is cut too, and so is the socket that asked.
  const slow = await RawClient.connect(arm);
  const inFlight = slow.get('/slow?ms=3000');
  const all = await RawClient.connect(arm);
  const own = await all.get('/close-all');
  const cut = await slow.closedWithin(2000);
  await inFlight.catch(() => undefined);
  for (const c of [slow, all, order]) c.destroy();
  return { answered: statusOf(answered), idleClosed, askerOpen, own: statusOf(own), cut };
}

/** The events of `Expect: 100-continue` (`checkContinue`), an `Upgrade` (`upgrade`) and a garbled request (`clientError`, answered 400). */
export async function specialRequests(arm: Arm): Promise<unknown> {
  const from = mark(arm);
  const expect = await RawClient.connect(arm);
  expect.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n');
  const cont = await expect.response();
  expect.write('hi');
  const posted = await expect.response();
  expect.destroy();
  const upgrade = await RawClient.connect(arm);
  upgrade.write('GET / HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n');
  const switched = await upgrade.response();
  upgrade.destroy();
  const garbled = await RawClient.connect(arm);
  garbled.write('HELLO THERE\r\n\r\n');
  const bad = await garbled.response();
  garbled.destroy();
  const events = arm.log().slice(from).map((l) => l.e).filter((e) => e === 'checkContinue' || e === 'upgrade' || e === 'clientError');
  return { cont: statusOf(cont), posted: posted === 'closed' ? 'closed' : posted.body, switched: statusOf(switched), bad: statusOf(bad), events };
}

/**
 * The app's own `server.close()`: the in-flight request finishes, the callback gets no error, and
 * `'close'` comes after that request's connection closed. What a new client sees is the one known
 * difference: refused by a lone server, served by a replacement under handoff (never lost).
 */
export async function appClose(arm: Arm): Promise<unknown> {
  const from = mark(arm);
  const slow = await RawClient.connect(arm);
  const slowAnswer = slow.get('/slow?ms=600', true);
  await waitUntil(() => arm.log().slice(from).some((l) => l.e === 'request'));
  const closer = await getOnce(arm, '/close');
  const pid = pidOf(closer);
  const done = await slowAnswer;
  slow.destroy();
  // 'close' follows the last connection's close.
  await waitUntil(() => arm.events(pid, from).includes('close-callback'));
  const events = arm.events(pid, from).filter((e) => e === 'close' || e === 'close-callback' || e === 'listening');
  const callback = arm.log().slice(from).find((l) => l.pid === pid && l.e === 'close-callback');
  let after: string;
  try {
    const next = await getOnce(arm, '/');
    after = next === 'closed' ? 'closed' : pidOf(next) !== pid ? 'served by another process' : 'served by the closed server';
  } catch (error) {
    after = (error as NodeJS.ErrnoException).code ?? 'error';
  }
  return { closer: statusOf(closer), slow: done === 'closed' ? 'closed' : done.body, events, callbackError: callback?.error ?? 'none', after };
}

/** The app's `server.close()` on a line-protocol server: open connections go on, `'close'` after the last. */
export async function lineClose(arm: Arm): Promise<unknown> {
  const from = mark(arm);
  const holder = await RawClient.connect(arm);
  holder.write('who\n');
  const pid = Number(/pid (\d+)/.exec((await holder.line()) as string)?.[1]);
  const closer = await RawClient.connect(arm);
  closer.write('close\n');
  const closing = await closer.line();
  closer.socket.end();
  await closer.done;
  const closedEarly = arm.events(pid, from).includes('close');
  holder.write('who\n');
  const still = await holder.line();
  holder.socket.end();
  await holder.done;
  await waitUntil(() => arm.events(pid, from).includes('close-callback'));
  const events = arm.events(pid, from).filter((e) => e === 'close' || e === 'close-callback');
  const callback = arm.log().slice(from).find((l) => l.pid === pid && l.e === 'close-callback');
  let after: string;
  try {
    const next = await RawClient.connect(arm);
    next.write('who\n');
    const line = await next.line();
    next.destroy();
    after = line === 'closed' ? 'closed' : Number(/pid (\d+)/.exec(line)?.[1]) !== pid ? 'served by another process' : 'served by the closed server';
  } catch (error) {
    after = (error as NodeJS.ErrnoException).code ?? 'error';
  }
  return { closing, closedEarly, still: typeof still === 'string' && still.startsWith('pid'), events, callbackError: callback?.error ?? 'none', after };
}

async function waitUntil(predicate: () => boolean, timeout = 3000): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!predicate() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
}

/** Line-protocol kinds (tls, net): events, state, the socket, half-open. */
export async function lineRows(arm: Arm): Promise<unknown> {
  const from = mark(arm);
  const client = await RawClient.connect(arm);
  client.write('state\n');
  const state = JSON.parse((await client.line()) as string) as { listening: boolean; address: { port: number; family: string }; connections: number };
  client.write('socket\n');
  const view = JSON.parse((await client.line()) as string) as Record<string, unknown>;
  const local = { address: client.socket.localAddress, port: client.socket.localPort };
  const pid = Number(/pid (\d+)/.exec((client.write('who\n'), (await client.line()) as string))?.[1]);
  // Half-open: the server still writes after the client's end.
  client.socket.end();
  const bye = await client.line();
  await client.done;
  return {
    events: arm.events(pid, from),
    state: { listening: state.listening, port: state.address.port === arm.port, family: state.address.family, connections: state.connections },
    view: { ...view, remotePort: view.remotePort === local.port, localPort: view.localPort === arm.port, remoteAddress: view.remoteAddress === local.address },
    halfOpen: typeof bye === 'string' && bye.startsWith('bye'),
  };
}

/** HTTP/2: a session and a stream (over TLS with ALPN h2, or cleartext with prior knowledge). */
export async function http2Request(arm: Arm): Promise<unknown> {
  const from = mark(arm);
  const session = http2.connect(`${arm.tls ? 'https' : 'http'}://127.0.0.1:${arm.port}`, { rejectUnauthorized: false });
  session.on('error', () => {});
  const { status, pid, alpn } = await new Promise<{ status: number; pid: number; alpn: string | false | undefined }>((resolve, reject) => {
    const req = session.request({ ':path': '/socket' });
    let body = '';
    let status = 0;
    req.on('response', (h) => (status = Number(h[':status'])));
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => resolve({ status, pid: Number(JSON.parse(body).pid ?? 0), alpn: session.alpnProtocol }));
    req.on('error', reject);
    req.end();
  });
  session.close();
  void pid;
  const events = arm.log().slice(from).map((l) => l.e).filter((e) => e !== 'close');
  return { status, alpn, events: [...new Set(events)] };
}

/** curl with `--http2-prior-knowledge` (it sends its preface and first frames at once). */
export async function curlPriorKnowledge(arm: Arm): Promise<unknown> {
  const { stdout } = await run('curl', ['-sS', '-m', '5', '--http2-prior-knowledge', '-o', '/dev/null', '-w', '%{http_version} %{http_code}', `http://127.0.0.1:${arm.port}/`]);
  return stdout;
}
