import { execFile } from 'node:child_process';

/**
 * Tells systemd about this primary where it asked to be told (`NOTIFY_SOCKET`, a `Type=notify`
 * service): `READY=1` once it serves, and after an upgrade `MAINPID=` the new primary, so that
 * systemd follows it instead of ending the service when the old one exits. Node has no Unix
 * datagram sockets, so systemd's own `systemd-notify` sends it; systemd accepts a message of a
 * process other than the main one only with `NotifyAccess=all` (docs/deploy/handoff.service).
 * Resolves with why it could not (undefined: sent, or not asked for); never rejects.
 */
export function notifySystemd(fields: Readonly<Record<string, string | number>>, env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  if (env.NOTIFY_SOCKET === undefined || env.NOTIFY_SOCKET === '') return Promise.resolve(undefined);
  const args = Object.entries(fields).map(([k, v]) => `${k}=${v}`);
  return new Promise((resolve) => {
    execFile('systemd-notify', args, { env, timeout: 5000 }, (error) => resolve(error === null ? undefined : `systemd-notify ${args.join(' ')} failed: ${error.message}`));
  });
}
