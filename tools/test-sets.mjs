#!/usr/bin/env node
// Which passes of .ci/run run each test file: one explicit list, so that no file is dropped
// silently. `node tools/test-sets.mjs check` fails when a test file is in no set (or a listed one is
// gone); `node tools/test-sets.mjs files <set>...` prints the files of those sets for `vitest run`.
//
// .ci/run runs the README's test command (every file, Node 20, transport auto), then:
//   transport  also on Node 20 ipc, Node 24 auto and Node 24 ipc. What the file asserts is how a
//              connection crosses in mode 'primary' (accept, the link, acks, re-dispatch, moves,
//              payloads, back-pressure, descriptors, the socket the app gets): HANDOFF_TRANSPORT
//              changes what it tests. HANDOFF_TRANSPORT is read only where a primary in mode
//              'primary' is made (orchestrator/src/primary.ts: the kernel modes' link is always
//              IPC), so on the ipc passes the tests named for a kernel mode are left out
//              (KERNEL_MODE_TESTS, a vitest -t pattern); on Node 24 auto they run.
//   node       also on Node 24 auto. Code that leans on Node's internals or on what changes between
//              Node versions, with the transport incidental: the IPC channel and handles, http's
//              parser state, connections emitted on a server that never listens, the patched
//              listen() (drop-in), shared handles re-armed (balanced), reusePort, type stripping,
//              fs.watch, the fdpass addon on another Node's N-API, the frameworks' examples.
//   once       only in the README's command. Pure code (policies, parsers, decoders, docs, tables),
//              and integration files whose Node APIs are the stable ones (child processes, signals,
//              Unix sockets, files, users) and whose paths through the code above are run on Node
//              24 by the transport and node sets: the CLI's commands around start (control socket,
//              upgrade, logs, metrics, deploy recipes, packaging), edge proxies, storms, the demo,
//              the bench's smoke tests.
// A new test file must be added to one set with its reason (`check` runs first in .ci/run).
import { readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** @type {Record<string, 'transport' | 'node' | 'once'>} */
export const TEST_SETS = {
  // apps/bench: runs both transports itself (`@native`, `@ipc` cells), whatever HANDOFF_TRANSPORT says.
  'apps/bench/test/proxies.test.ts': 'once', // HAProxy and nginx configs; a cell of each (skipped where not installed)
  'apps/bench/test/reload.test.ts': 'once',
  'apps/bench/test/smoke.test.ts': 'once',
  // apps/demo: the demo's CLI and config; requests probe it.
  'apps/demo/test/cli.test.ts': 'once',
  'apps/demo/test/config.test.ts': 'once', // flag/env parsing, no process
  'apps/demo/test/demo.test.ts': 'once',
  'apps/demo/test/policies.test.ts': 'once',
  'apps/demo/test/sighup.test.ts': 'once',
  // examples: each framework served through a primary; what a socket looks like on each transport
  // is worker/test/kinds and conformance's job.
  'examples/drop-in/test/drop-in.test.mjs': 'node',
  'examples/express4/test/express4.test.mjs': 'node',
  'examples/express5/test/express5.test.mjs': 'node',
  'examples/fastify/test/fastify.test.mjs': 'node',
  'examples/hono/test/hono.test.mjs': 'node',
  'examples/http2/test/http2.test.mjs': 'node',
  'examples/https/test/https.test.mjs': 'node',
  'examples/koa/test/koa.test.mjs': 'node',
  'examples/nestjs/test/nestjs.test.mjs': 'node',
  'examples/net-echo/test/net-echo.test.mjs': 'node',
  'examples/socket-io/test/socket-io.test.mjs': 'node',
  'examples/terminus/test/terminus.test.mjs': 'node',
  'examples/ws/test/ws.test.mjs': 'node',
  // cli
  'packages/cli/test/addon.test.ts': 'node', // the addon in ready/status; picks its transport by flag
  'packages/cli/test/args.test.ts': 'once', // parseCommandLine, configs, the options table
  'packages/cli/test/control-protocol.test.ts': 'once', // the control protocol's codec
  'packages/cli/test/control.test.ts': 'once', // the control socket
  'packages/cli/test/cpu-quota.test.ts': 'once', // cgroups, worker count
  'packages/cli/test/defaults.test.ts': 'once', // the options table against the primary's defaults
  'packages/cli/test/deploy.test.ts': 'once', // --proxy-protocol flags, users, recipes; PROXY on each transport: orchestrator/proxy-protocol
  'packages/cli/test/listen-apps.test.ts': 'node', // apps' own listen()s
  'packages/cli/test/logs.test.ts': 'once', // stdout/stderr lines
  'packages/cli/test/metrics.test.ts': 'once', // --metrics, top
  'packages/cli/test/package.test.ts': 'once', // npm pack/install; asserts the transport it got (HANDOFF_TRANSPORT aware), runs once per Node
  'packages/cli/test/start.test.ts': 'node', // the command's lifecycle; --transport ipc is tested by flag
  'packages/cli/test/top.test.ts': 'once', // renderTop, a pure frame
  'packages/cli/test/typescript.test.ts': 'node', // type stripping differs by Node version
  'packages/cli/test/units.test.ts': 'once', // value readers, word splitting, the edit distance
  'packages/cli/test/upgrade-failures.test.ts': 'once', // as upgrade.test.ts: primaries killed mid-way, the CLI's processes
  'packages/cli/test/upgrade.test.ts': 'node', // the primary's hand-over on each Node (issue 25 asks for 20 and 24); native and ipc by --transport itself
  'packages/cli/test/watch.test.ts': 'node', // fs.watch, reload
  // fdpass: the transport itself; HANDOFF_TRANSPORT is not read there (each test names its transport).
  'packages/fdpass/test/addon.test.ts': 'node',
  'packages/fdpass/test/native.test.ts': 'node',
  'packages/fdpass/test/prebuilds.test.ts': 'node',
  'packages/fdpass/test/transport.test.ts': 'node',
  'packages/fdpass/test/turns.test.ts': 'node', // the link's turns on each transport, named by the test
  'packages/fdpass/test/units.test.ts': 'node', // Fifo, tags, spawn options; one real net.Server
  // metrics
  'packages/metrics/test/docs.test.ts': 'once', // a live /metrics against the dashboard's queries
  'packages/metrics/test/errors.test.ts': 'once',
  'packages/metrics/test/merge.test.ts': 'once', // the workers' metrics checked and merged; the histogram
  'packages/metrics/test/metrics.test.ts': 'once', // counters over a live primary; moves counted also in shared mode
  'packages/metrics/test/reasons.test.ts': 'once', // every reject reason and state reaches /metrics (a live primary)
  // orchestrator
  'packages/orchestrator/test/accounting.test.ts': 'once', // AcceptFailures, ReadySet, DescriptorBudget's arithmetic
  'packages/orchestrator/test/activation.test.ts': 'node', // systemd's sockets adopted
  'packages/orchestrator/test/balanced.test.ts': 'node', // shared mode: always IPC
  'packages/orchestrator/test/busy-worker.test.ts': 'transport', // oneInFlight, acks, the queue
  'packages/orchestrator/test/chaos.test.ts': 'transport', // kills with connections on the link: re-dispatch
  'packages/orchestrator/test/cpus.test.ts': 'once', // countCpus over fake cgroup trees
  'packages/orchestrator/test/edge-proxies.test.ts': 'once', // nginx/haproxy in front; reloads
  'packages/orchestrator/test/errors-doc.test.ts': 'once', // docs/errors.md against the codes
  'packages/orchestrator/test/faults.test.ts': 'once', // failed reload, signals to the group
  'packages/orchestrator/test/fd-exhaustion.test.ts': 'transport', // the reserve, EMFILE in the acceptor
  'packages/orchestrator/test/flood.test.ts': 'transport', // maxPending, 503s from the primary
  'packages/orchestrator/test/handover.test.ts': 'node', // listeningSockets()
  'packages/orchestrator/test/health.test.ts': 'once', // HealthMonitor with a stand-in worker, fake timers
  'packages/orchestrator/test/hostile.test.ts': 'transport', // load reports and shares under round robin
  'packages/orchestrator/test/instance.test.ts': 'once', // HANDOFF_INSTANCE(S), stats()
  'packages/orchestrator/test/leak.test.ts': 'transport', // descriptors back to baseline: the link's fds
  'packages/orchestrator/test/lifecycle.test.ts': 'transport', // close() with in-flight, scale by draining, recycling
  'packages/orchestrator/test/listeners.test.ts': 'transport', // IPv4, IPv6, Unix: the acceptor per family
  'packages/orchestrator/test/move.test.ts': 'transport', // moved connections re-placed by the dispatcher
  'packages/orchestrator/test/one-batch.test.ts': 'once', // the oneInFlight offer, a pure decision
  'packages/orchestrator/test/options.test.ts': 'once', // validation, defaults, the environment's reads
  'packages/orchestrator/test/pid1.test.ts': 'once', // the Dockerfile's CMD
  'packages/orchestrator/test/policies.test.ts': 'transport', // every policy's picks over the links (in flight, shares)
  'packages/orchestrator/test/privileges.test.ts': 'once', // root, users, groups
  'packages/orchestrator/test/protocol.test.ts': 'transport', // a connection without its handle, bad workers in mode primary
  'packages/orchestrator/test/proxy-protocol.test.ts': 'transport', // the header rides the native payload or the IPC message
  'packages/orchestrator/test/recovery.test.ts': 'transport', // re-dispatch of unreceived connections, 503s
  'packages/orchestrator/test/reload.test.ts': 'transport', // 20 reloads under churn: none reset
  'packages/orchestrator/test/slots.test.ts': 'once', // Slots and the backoff, fake timers
  'packages/orchestrator/test/start.test.ts': 'node', // start()'s failures, options
  'packages/orchestrator/test/stdio.test.ts': 'node', // output that goes away
  'packages/orchestrator/test/steering.test.ts': 'once', // AcceptSteering over a fake kernel
  'packages/orchestrator/test/stopped.test.ts': 'transport', // a SIGSTOPped worker's unreceived connections
  'packages/orchestrator/test/storms.test.ts': 'once', // reload/signal storms: coalescing
  'packages/orchestrator/test/transport.test.ts': 'transport', // reads HANDOFF_TRANSPORT
  'packages/orchestrator/test/wait-queue.test.ts': 'once',
  'packages/orchestrator/test/worker-metrics.test.ts': 'once', // app metrics requests
  // policies: pure.
  'packages/policies/test/balance.test.ts': 'once',
  'packages/policies/test/builtins.test.ts': 'once',
  'packages/policies/test/peak-ewma.test.ts': 'once',
  'packages/policies/test/registry.test.ts': 'once',
  'packages/policies/test/round-robin.test.ts': 'once',
  'packages/policies/test/testkit.test.ts': 'once',
  'packages/policies/test/third-party.test.ts': 'once',
  // protocol
  'packages/protocol/test/channel.test.ts': 'node', // the IPC channel between two processes (Node's internals)
  'packages/protocol/test/decode.property.test.ts': 'once',
  'packages/protocol/test/guard.test.ts': 'once',
  'packages/protocol/test/instanceof.test.ts': 'once',
  'packages/protocol/test/payload.test.ts': 'once',
  'packages/protocol/test/requests.test.ts': 'once', // the request helper, fake timers
  // proxy-protocol: pure, but for the reader on real sockets.
  'packages/proxy-protocol/test/address.test.ts': 'once',
  'packages/proxy-protocol/test/encode.test.ts': 'once',
  'packages/proxy-protocol/test/errors.test.ts': 'once',
  'packages/proxy-protocol/test/parse.property.test.ts': 'once',
  'packages/proxy-protocol/test/parse.test.ts': 'once',
  'packages/proxy-protocol/test/reader.test.ts': 'node', // net.Socket pause and read semantics
  'packages/proxy-protocol/test/trust.test.ts': 'once',
  // worker
  'packages/worker/test/app-close.test.ts': 'node', // an app closing its server
  'packages/worker/test/app-signals.test.ts': 'node', // SIGTERM to apps
  'packages/worker/test/bookkeeping.test.ts': 'once', // AcceptGate, ListenIndexes, PendingRequests, Releasing
  'packages/worker/test/conformance.test.ts': 'transport', // what the app sees of its socket: built from the fd or from Node's handle
  'packages/worker/test/drain.test.ts': 'transport', // in-flight and keep-alive sockets through rolling reloads (moves)
  'packages/worker/test/drop-in.test.ts': 'node', // the patched listen()
  'packages/worker/test/kinds.test.ts': 'transport', // every server kind's sockets, on each transport
  'packages/worker/test/movable.test.ts': 'node', // mayMove reads http's own parser state
  'packages/worker/test/serve.test.ts': 'node', // serve()'s hooks
  'packages/worker/test/tracker.test.ts': 'node', // ConnectionTracker on real servers: http's own socket state
};

/** Which passes run each set (see the top of this file). */
export const PASSES = {
  transport: ['node20-auto', 'node20-ipc', 'node24-auto', 'node24-ipc'],
  node: ['node20-auto', 'node24-auto'],
  once: ['node20-auto'],
};

/**
 * The ipc passes' `vitest -t` pattern: every test but those whose full name says a kernel mode
 * (`mode shared`, `mode shared, balanced`, `mode balanced`, `mode reuseport`), where the transport
 * is not used (their connections never cross; a drain's moves take the IPC link whatever is set).
 */
export const KERNEL_MODE_TESTS = '^(?!.*\\bmode (shared|balanced|reuseport)\\b)';

/** Every test file vitest would run, relative to the repository root (the projects of vitest.config.ts). */
export function testFiles() {
  const out = [];
  for (const top of ['packages', 'apps', 'examples']) {
    for (const name of readdirSync(join(root, top))) {
      const dir = join(root, top, name, 'test');
      try {
        if (!statSync(dir).isDirectory()) continue;
      } catch {
        continue;
      }
      walk(dir, out);
    }
  }
  return out.map((f) => relative(root, f)).sort();
}

function walk(dir, out) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'node_modules' && entry.name !== 'fixtures') walk(path, out);
    } else if (/\.test\.m?[jt]s$/.test(entry.name)) out.push(path);
  }
}

/** What is wrong with the list: files in no set, unknown sets (`check` fails on these). */
export function problems() {
  const listed = new Set(Object.keys(TEST_SETS));
  const out = [];
  for (const f of testFiles()) if (!listed.has(f)) out.push(`${f}: in no set of tools/test-sets.mjs (transport, node or once: say which, and why)`);
  for (const [f, set] of Object.entries(TEST_SETS)) if (!(set in PASSES)) out.push(`${f}: unknown set ${set}`);
  return out;
}

/** Listed files that are not there (renamed, or not yet committed): said, never a failure. */
export function missing() {
  const present = new Set(testFiles());
  return Object.keys(TEST_SETS).filter((f) => !present.has(f));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [command, ...sets] = process.argv.slice(2);
  if (command === 'check') {
    const bad = problems();
    if (bad.length > 0) {
      for (const line of bad) console.error(line);
      process.exit(1);
    }
    for (const f of missing()) console.warn(`${f}: listed in tools/test-sets.mjs but not found`);
    const counts = Object.fromEntries(Object.keys(PASSES).map((s) => [s, Object.values(TEST_SETS).filter((x) => x === s).length]));
    console.log(`every test file is in a set: ${Object.entries(counts).map(([s, n]) => `${s} ${n}`).join(', ')}`);
  } else if (command === 'ipc-pattern') {
    console.log(KERNEL_MODE_TESTS);
  } else if (command === 'files' && sets.length > 0 && sets.every((s) => s in PASSES)) {
    const gone = new Set(missing());
    for (const [f, set] of Object.entries(TEST_SETS)) if (sets.includes(set) && !gone.has(f)) console.log(f);
  } else {
    console.error('usage: node tools/test-sets.mjs check | files <transport|node|once>... | ipc-pattern');
    process.exit(2);
  }
}
