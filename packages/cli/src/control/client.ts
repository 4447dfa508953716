import { connect } from 'node:net';
import { CliErrorCode, HandoffCliError } from '../errors.js';
import { CONTROL_VERSION, type ControlCommand, type ControlReply } from './protocol.js';

/**
 * Sends one request to the primary at `path` and resolves with its result; `onProgress` sees each
 * progress reply. Rejects with `HANDOFF_ERR_NOT_RUNNING` when nothing answers there, and with the
 * primary's code when it answers with an error.
 */
export function request(path: string, name: string, cmd: ControlCommand, args: Record<string, unknown> = {}, onProgress: (message: string, data: unknown) => void = () => {}): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    let buffered = '';
    let settled = false;
    const finish = (error: Error | undefined, value?: unknown): void => {
      if (settled) return;
      settled = true;
      socket.destroy();
      if (error !== undefined) reject(error);
      else resolve(value);
    };
    socket.once('connect', () => socket.write(`${JSON.stringify({ v: CONTROL_VERSION, id: 1, cmd, args })}\n`));
    socket.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' || error.code === 'ECONNREFUSED') finish(new HandoffCliError(CliErrorCode.NOT_RUNNING, `no primary named ${JSON.stringify(name)} is running (handoff ls lists them)`));
      else finish(new HandoffCliError(CliErrorCode.CONTROL, `cannot reach the primary ${JSON.stringify(name)} at ${path}: ${error.message}`, { cause: error }));
    });
    socket.once('close', () => finish(new HandoffCliError(CliErrorCode.CONTROL, `the primary ${JSON.stringify(name)} closed the control connection before answering`)));
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      let newline: number;
      while ((newline = buffered.indexOf('\n')) !== -1) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        let reply: ControlReply;
        try {
          reply = JSON.parse(line) as ControlReply;
        } catch {
          finish(new HandoffCliError(CliErrorCode.CONTROL, `the primary answered something that is not JSON: ${line.slice(0, 200)}`));
          return;
        }
        if (reply.type === 'progress') onProgress(reply.message, reply.data);
        else if (reply.type === 'result') finish(undefined, reply.data);
        else if (reply.type === 'error') finish(Object.assign(new HandoffCliError(CliErrorCode.CONTROL, reply.message), { remoteCode: reply.code }));
      }
    });
  });
}
