// The soak's worker: HTTP (GET / answers, GET /probe says this process's open descriptors and its
// RSS after a GC) and a minimal WebSocket echo (one frame at a time, unfragmented, as the soak's
// client sends them), with no dependency.
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { createServer } from 'node:http';
import { serve } from '../../packages/worker/dist/index.js';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export function probe() {
  globalThis.gc?.();
  globalThis.gc?.();
  const m = process.memoryUsage();
  return { pid: process.pid, fds: readdirSync('/proc/self/fd').length, rss: m.rss, heap: m.heapUsed };
}

const server = createServer((req, res) => {
  if (req.url === '/probe') {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(probe()));
    return;
  }
  res.end('ok\n');
});

server.on('upgrade', (req, socket) => {
  const key = req.headers['sec-websocket-key'];
  const accept = createHash('sha1').update(`${key}${GUID}`).digest('base64');
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
  let buffered = Buffer.alloc(0);
  socket.on('data', (chunk) => {
    buffered = Buffer.concat([buffered, chunk]);
    while (buffered.length >= 6) {
      const opcode = buffered[0] & 0x0f;
      const length = buffered[1] & 0x7f; // the soak's frames are short (< 126 bytes), always masked
      if (buffered.length < 6 + length) return;
      const mask = buffered.subarray(2, 6);
      const payload = Buffer.from(buffered.subarray(6, 6 + length));
      for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i % 4];
      buffered = buffered.subarray(6 + length);
      if (opcode === 0x8) {
        socket.end(Buffer.from([0x88, 0]));
        return;
      }
      socket.write(Buffer.concat([Buffer.from([0x81, payload.length]), payload]));
    }
  });
  socket.on('error', () => socket.destroy());
});

serve(server);
