import { subscribe } from 'node:diagnostics_channel';
import { countCpus, createPrimary, describeCpuCount, HandoffError, primaryDefaults } from '@handoff/orchestrator';
import { serveMetrics, type MetricsServer } from '@handoff/metrics';
import { claimOwnedControlDir, controlDir, controlOwner, ensureControlDir, ownerControlDir, socketPath } from './control/paths.js';
import { listenControl } from './control/server.js';
import { addonStatus, autoStatus, controlHandlers, plural, type RunningPrimary, type TransportChoice } from './control/handlers.js';
import { CpuSampler } from './cpu.js';
import { CliErrorCode, ExitCode, HandoffCliError } from './errors.js';
import { logPrimaryEvents } from './events-log.js';
import { LogSink } from './logs/sink.js';
import { appFolder, inFlagTerms, primaryOptions, type StartSettings } from './settings.js';
import { handleSignals } from './signals.js';
import { typescriptNodeArgs } from './typescript.js';
import { reloadOnChange } from './watch.js';
import { notifySystemd } from './sd-notify.js';
import type { ListeningSocket } from '@handoff/orchestrator';
import { reportFailedSuccessor, spawnSuccessor, takeHandover, tellPredecessorReady, upgradeRefusal, type UpgradeResult } from './upgrade.js';
import { UpgradeLine } from './upgrade-line.js';
import { adoptHanded, closeUnadopted, handedSockets } from './upgrade-sockets.js';

/** Where `start` writes and what it reads. */
export interface StartIO {
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean };
  readonly env: NodeJS.ProcessEnv;
}

/**
 * `handoff start`: claims the name's control socket (refusing a running one), starts the primary,
 * logs, answers the control socket and signals until it is stopped; resolves with the exit code.
 */
export async function runStart(settings: StartSettings, io: StartIO): Promise<number> {
  const sink = new LogSink(settings.logFormat, settings.name, io.stdout as never, io.stderr as never);
  // An upgrade's new primary: the old one handed it its listening sockets (upgrade.ts).
  const handover = takeHandover();
  // Its generation and the upgrades counted so far, carried from each primary to the next (/metrics).
  const line = new UpgradeLine(handover);
  const generation = line.generation;
  const options = adoptHanded(primaryOptions(settings), handover);
  const preload = new URL('./worker-preload.js', import.meta.url).href;
  // A .ts entry: source maps, and type stripping or the app's tsx (refused here, before any fork, where neither is there).
  const typescript = typescriptNodeArgs(settings.entry, settings.nodeArgs);
  // What @handoff/fdpass chose at start() (by the channel's name: the CLI does not depend on fdpass).
  let selected: TransportChoice | undefined;
  const onSelected = (message: unknown): void => void (selected = message as TransportChoice);
  subscribe('handoff:transport:selected', onSelected);
  // `auto` is counted here, once, so that status can say how (a cgroup quota, the affinity).
  const auto = settings.workers === 'auto' ? countCpus() : undefined;
  let primary: ReturnType<typeof createPrimary>;
  try {
    primary = createPrimary({ ...options, workers: auto?.count ?? options.workers, execArgv: [...typescript, ...(options.execArgv ?? []), '--import', preload] });
  } catch (error) {
    if (error instanceof HandoffError && error.code === 'HANDOFF_ERR_INVALID_OPTION') throw new HandoffCliError(CliErrorCode.INVALID_VALUE, inFlagTerms(error.message));
    throw error;
  }
  // A root primary whose workers run as --user: its control socket is that user's.
  const owner = controlOwner(settings.user, settings.group);
  const dir = owner === undefined ? controlDir(io.env) : ownerControlDir(owner);
  const path = socketPath(dir, settings.name);
  const claimed = owner === undefined ? (ensureControlDir(dir), undefined) : claimOwnedControlDir(dir, owner);
  const cpu = new CpuSampler(() => primary.workers().map((w) => w.pid));
  let killedAtDeadline = false;
  let stopping: Promise<number> | undefined;
  let upgrading: Promise<UpgradeResult> | undefined;
  /** The sockets a new primary serves now (an upgrade went through): closing leaves their paths. */
  let handedOver: readonly ListeningSocket[] | undefined;
  let finish: (code: number) => void = () => {};
  const done = new Promise<number>((resolve) => (finish = resolve));
  const run: RunningPrimary = {
    primary,
    settings,
    cpu,
    startedAt: Date.now(),
    target: 0,
    auto,
    transportChoice: () => selected,
    log: (event, message, fields) => sink.event(event, message, fields),
    tapLogs: (listener) => sink.tap(listener),
    stop: (timeout) => {
      stopping ??= (async () => {
        sink.event('stop', `stopping: draining ${plural(primary.workers().length, 'worker')}`);
        const deadline = timeout ?? settings.drainTimeout;
        const began = Date.now();
        await primary.close({ timeout: deadline, handedOver });
        // A drain that ran to its deadline cut what was still open (a clean one ends within the
        // idle keep-alive grace, well before).
        if (Date.now() - began >= deadline) killedAtDeadline = true;
        const code = killedAtDeadline ? ExitCode.FAILED : ExitCode.OK;
        sink.event('stopped', killedAtDeadline ? 'stopped; connections were cut at the drain deadline' : 'stopped', { exitCode: code });
        // Let a `handoff stop` waiting on the socket read its answer before the socket goes.
        setTimeout(() => void control.close().then(() => finish(code)), 50);
        return code;
      })();
      return stopping;
    },
    generation,
    upgrade: (request, progress) => {
      const refused = upgradeRefusal();
      const busy = upgrading !== undefined ? 'an upgrade of this primary runs already' : handedOver !== undefined || primary.state !== 'running' ? `the primary is ${handedOver !== undefined ? 'handed over' : primary.state}; upgrade it once it is running` : undefined;
      if (refused !== undefined || busy !== undefined) {
        line.count('refused');
        sink.event('upgrade-refused', `upgrade refused: ${refused ?? busy}`);
        return Promise.reject(refused !== undefined ? new HandoffCliError(CliErrorCode.UPGRADE_REFUSED, refused) : new HandoffCliError(CliErrorCode.UPGRADE_BUSY, busy!));
      }
      upgrading = (async () => {
        const began = Date.now();
        const sockets = handedSockets(primary.listeningSockets());
        const on = request.node === undefined ? '' : ` on ${request.node}`;
        sink.event('upgrade', `upgrading: starting generation ${generation + 1}${on} with ${plural(sockets.length, 'listening socket')}`, { generation: generation + 1, sockets: sockets.map((s) => s.address) });
        progress(`starting the new primary${on} with ${plural(sockets.length, 'listening socket')}`);
        const next = await spawnSuccessor(sockets, line, request, settings.readyTimeout ?? primaryDefaults.readyTimeout).catch(async (error: unknown) => {
          // A new primary killed after it took the name: the name is this one's again.
          await control.reclaimName(path).catch((e: Error) => sink.event('warning', `could not take the control socket ${path} back: ${e.message}`));
          throw error;
        });
        // The new primary serves, and its control socket has this one's name: this one drains.
        handedOver = sockets;
        control.releaseName();
        // The new primary binds the metrics port once this one lets go of it.
        void metrics?.close();
        sink.event('upgraded', `generation ${generation + 1} (pid ${next.pid}) serves; generation ${generation} drains and exits`, { pid: next.pid, generation: generation + 1 });
        setImmediate(() => void run.stop(undefined));
        return { pid: next.pid, generation: generation + 1, sockets: sockets.length, ms: Date.now() - began };
      })();
      upgrading
        .catch((error: Error) => sink.event('upgrade-failed', `upgrade failed; this primary serves on: ${error.message}`, { code: (error as HandoffError).code }))
        .finally(() => (upgrading = undefined));
      return upgrading;
    },
  };
  // The name first: a second `start` of a running name forks nothing.
  // A new primary listens beside the old one's socket, and takes its name once it serves.
  const control = await listenControl(handover === undefined ? path : `${path}.next`, controlHandlers(run), settings.name).catch((error: unknown) => {
    claimed?.handOver();
    throw error;
  });
  // The folder and the socket made just now (a new primary's is `.next` until it takes the name) are the user's.
  claimed?.handOver(handover === undefined ? path : `${path}.next`);
  const stopLogging = logPrimaryEvents(primary, sink, () => (run.target > 0 ? run.target : primary.workers().length));
  // Past the deadline a worker cuts what it still holds (its `idle` report says how many), or the
  // primary kills a stuck one: either way the drain was not clean.
  primary.on('worker:drain', (_w, { phase, open }) => {
    if (stopping !== undefined && phase === 'idle' && open > 0) killedAtDeadline = true;
  });
  primary.on('worker:exit', (_w, { signal }) => {
    if (primary.state === 'draining' && signal === 'SIGKILL') killedAtDeadline = true;
  });

  const unhandle = handleSignals(run, (code) => void control.close().finally(() => finish(code)));
  const cleanup = (): void => {
    unhandle();
    cpu.stop();
    stopLogging();
  };

  let metrics: MetricsServer | undefined;
  const logMetrics = (server: MetricsServer): void => {
    const at = server.address();
    sink.event('metrics', `metrics on http://${at.family === 'IPv6' ? `[${at.address}]` : at.address}:${at.port}/metrics (and /healthz, /readyz)`, { metrics: at });
  };
  try {
    // Before start(): every worker and event is counted, and a taken metrics port forks nothing.
    if (settings.metrics !== undefined) {
      // An upgrade's new primary: the old one holds the metrics port until the hand-over (below).
      metrics = await serveMetrics(primary, { ...settings.metrics, upgrades: () => line.counts() }).catch((error: HandoffError) => {
        if (handover !== undefined && error.code === 'HANDOFF_ERR_PORT_IN_USE') return undefined;
        throw error;
      });
      if (metrics !== undefined) logMetrics(metrics);
    }
    await primary.start();
  } catch (error) {
    await metrics?.close();
    const e = error as HandoffError;
    if (e.code === 'HANDOFF_ERR_INVALID_OPTION' && stopping === undefined) {
      // start() read what the flags name from the machine (--listen name:web that systemd did not
      // pass, --user that /etc/passwd lacks): a usage error in the flags' terms, as createPrimary()'s.
      await control.close();
      cleanup();
      throw new HandoffCliError(CliErrorCode.INVALID_VALUE, inFlagTerms(e.message));
    }
    sink.event('start-failed', `the app failed to start: ${e.message}`, { code: e.code });
    await reportFailedSuccessor(e);
    await control.close();
    cleanup();
    // A stop that began while starting ends here too.
    return stopping !== undefined ? await stopping : ExitCode.START_FAILED;
  }
  run.target = primary.workers().length;
  const addresses = primary.addresses();
  // What connections cross on (mode primary): a worker whose addon did not load says 'ipc'.
  const transports = [...new Set(primary.workers().map((w) => w.transport).filter((t) => t !== null))].sort();
  // Which addon carries native connections (prebuilt for this platform, or built at install), or why
  // `auto` fell back to IPC, as fdpass said; status says the same (render.ts).
  const addon = addonStatus(selected);
  const note = addon !== null && addon.description !== '' && transports.includes(addon.transport) ? ` (${addon.description})` : '';
  const via = transports.length === 0 ? '' : `, transport ${transports.join(' and ')}${note}`;
  const counted = auto === undefined ? '' : `, auto: ${describeCpuCount(auto)}`;
  sink.event('ready', `${plural(run.target, 'worker')} ready (policy ${settings.policy.name}${via}${counted}); control: handoff status ${settings.name}`, { workers: run.target, auto: autoStatus(auto), addresses, control: path, transport: transports.length === 1 ? transports[0] : transports.length === 0 ? null : transports, addon: addon?.binary ?? null, transportReason: addon?.reason ?? null });
  if (handover !== undefined) {
    control.takeName(path);
    closeUnadopted(handover, primary.listeningSockets());
  }
  // Under systemd (Type=notify): this process is the service's main one now, before the old exits.
  const unnotified = await notifySystemd({ MAINPID: process.pid, READY: 1 });
  if (unnotified !== undefined) sink.event('warning', unnotified);
  if (handover !== undefined) await tellPredecessorReady(line);
  if (settings.metrics !== undefined && metrics === undefined) {
    // The old primary lets go of the metrics port as soon as it is told: a moment without /metrics.
    for (let tries = 0; metrics === undefined && tries < 100; tries++) {
      metrics = await serveMetrics(primary, { ...settings.metrics, upgrades: () => line.counts() }).catch(() => new Promise<undefined>((r) => setTimeout(() => r(undefined), 50)));
    }
    if (metrics === undefined) sink.event('warning', `the metrics port is still taken after the upgrade; /metrics is not served`);
    else logMetrics(metrics);
  }
  if (addresses.length === 0) sink.event('warning', 'the app listens on nothing yet: does it call listen() or serve()?');
  const unwatch = settings.watch ? reloadOnChange(primary, appFolder(settings), run.log) : undefined;
  const code = await done;
  unwatch?.();
  cleanup();
  return code;
}
