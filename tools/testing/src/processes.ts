/** True while a process with this pid exists (signal 0 probes without signalling). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Kills each pid that is still alive with SIGKILL: the safety net of a test's cleanup. */
export function killAll(pids: Iterable<number>): void {
  for (const pid of pids) {
    if (pid > 0 && isAlive(pid)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone in between.
      }
    }
  }
}

/** Polls `predicate` every `interval` ms until it is true, or rejects after `timeout` ms. */
export async function waitFor(predicate: () => boolean | Promise<boolean>, timeout = 10_000, interval = 20, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeout;
  for (;;) {
    if (await predicate()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, interval));
  }
}

/** A TCP port free on 127.0.0.1 a moment ago (bound on port 0, then released), for tools that need a fixed port. */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}
