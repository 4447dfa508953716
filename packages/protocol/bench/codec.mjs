// Per-message cost of the protocol on the connection path, in ns/op: building and validating the
// messages one connection costs, next to what Node's channel itself does with them (JSON).
// Run after a build: `node packages/protocol/bench/codec.mjs` (plain node, against dist).
import { EventEmitter } from 'node:events';
import { createMessage, decodeMessage, isHandoffMessage, PROTOCOL_CMD, PROTOCOL_VERSION, sendMessage, subscribe } from '../dist/index.js';

const ROUNDS = 7;
const ITERATIONS = Number(process.env.ITERATIONS ?? 1_000_000);
const handle = { fd: 12 };
let sink = 0;

/** Median ns/op of `fn` over ROUNDS rounds of ITERATIONS calls, after a warm-up round. */
function bench(name, fn) {
  for (let i = 0; i < ITERATIONS; i++) fn(i);
  const results = [];
  for (let r = 0; r < ROUNDS; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < ITERATIONS; i++) fn(i);
    results.push(Number(process.hrtime.bigint() - start) / ITERATIONS);
  }
  results.sort((a, b) => a - b);
  const median = results[ROUNDS >> 1];
  console.log(`${name.padEnd(66)} ${median.toFixed(1).padStart(8)} ns/op`);
  return median;
}

/** What the dispatcher builds per connection (a literal, no helper). */
const literal = (i) => ({ cmd: PROTOCOL_CMD, v: PROTOCOL_VERSION, type: 'connection', listener: 0, id: i + 1 });
const withPeer = (i) => ({ cmd: PROTOCOL_CMD, v: PROTOCOL_VERSION, type: 'connection', listener: 0, id: i + 1, remoteAddress: '127.0.0.1', remotePort: 40000 + (i & 0x3fff), family: 'IPv4' });
const connection = literal(0);
const load = createMessage('load', { open: 12, closed: 3, requests: 12345, eventLoopDelay: 1.25, rss: 81_000_000, heapUsed: 12_000_000 });
// Node wraps a message sent with a handle in its own envelope, then serializes it with JSON.
const wire = JSON.stringify({ cmd: 'NODE_HANDLE', type: 'net.Native', msg: connection }) + '\n';

console.log(`@handoff/protocol codec, node ${process.version}, ${ITERATIONS} iterations x ${ROUNDS} rounds (median)\n`);
bench('connection: literal, as the dispatcher builds it', (i) => (sink += literal(i).id));
bench('connection: createMessage()', (i) => (sink += createMessage('connection', { listener: 0, id: i + 1 }).id));
bench('connection: decodeMessage()', () => (sink += decodeMessage(connection, handle).ok ? 1 : 0));
bench('connection + peer fields: literal + decodeMessage()', (i) => (sink += decodeMessage(withPeer(i), handle).ok ? 1 : 0));
bench('connection: createMessage() + decodeMessage()', (i) => (sink += decodeMessage(createMessage('connection', { listener: 0, id: i + 1 }), handle).ok ? 1 : 0));
bench('load: createMessage() + decodeMessage()', () => (sink += decodeMessage(createMessage('load', load), undefined).ok ? 1 : 0));
bench("isHandoffMessage() on Node's NODE_HANDLE_ACK", () => (sink += isHandoffMessage({ cmd: 'NODE_HANDLE_ACK' }) ? 1 : 0));
bench("Node's part, for scale: JSON.stringify of the wrapped message", (i) => (sink += JSON.stringify({ cmd: 'NODE_HANDLE', type: 'net.Native', msg: literal(i) }).length));
bench("Node's part, for scale: JSON.parse on the receiving side", () => (sink += JSON.parse(wire).msg.id));

// The receiving path as the worker runs it: subscribe()'s listener, guard, decode and handler.
const end = new EventEmitter();
let received = 0;
subscribe(end, { message: () => received++, error: () => {} });
bench("subscribe(): one 'internalMessage' through guard, decode, handler", () => end.emit('internalMessage', connection, handle));
sink += received;

// sendMessage() costs a Promise and a callback per call: fine for control messages, and why the
// dispatcher calls child.send() itself for connections.
const fakeChild = { connected: true, send: (_m, _h, _o, cb) => (cb(null), true) };
bench('sendMessage() overhead on a channel that writes at once', (i) => void sendMessage(fakeChild, literal(i)));

if (sink === 42) console.log('');
