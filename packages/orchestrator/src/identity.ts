import { readFileSync } from 'node:fs';
import { HandoffPrimaryError, PrimaryErrorCode } from './errors.js';

/** Who the workers run as (`user` / `group` options), resolved once at `createPrimary()`. */
export interface Identity {
  readonly uid: number;
  readonly gid: number;
  /** HOME, USER and LOGNAME for the workers: a root primary's would point them at /root. */
  readonly env: Readonly<Record<string, string>>;
}

interface Entry {
  readonly name: string;
  readonly id: number;
  readonly gid: number;
  readonly home: string;
}

function invalid(message: string): never {
  throw new HandoffPrimaryError(PrimaryErrorCode.INVALID_OPTION, message);
}

/** The entries of /etc/passwd or /etc/group (`name:x:id:gid-or-members:…:home:…`). */
function entries(file: string): Entry[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const out: Entry[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const fields = line.split(':');
    out.push({ name: fields[0]!, id: Number(fields[2]), gid: Number(fields[3]), home: fields[5] ?? '/' });
  }
  return out;
}

function isId(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value < 2 ** 32;
}

/**
 * Resolves the `user` and `group` options (names from /etc/passwd and /etc/group, or numeric ids)
 * to the ids the workers are forked with; `group` defaults to the user's primary group. Only a
 * primary running as root can change the workers' identity (binding ports below 1024 first).
 */
export function resolveIdentity(user: unknown, group: unknown): Identity | undefined {
  if (user === undefined && group === undefined) return undefined;
  if (typeof process.getuid !== 'function') invalid('options user and group work on POSIX systems only');
  if (user === undefined) invalid('option group needs user too: the workers run as that user and group');
  let account: Entry | undefined;
  if (isId(user)) account = entries('/etc/passwd').find((e) => e.id === user) ?? { name: String(user), id: user, gid: NaN, home: '/' };
  else if (typeof user === 'string' && user !== '') account = entries('/etc/passwd').find((e) => e.name === user);
  else invalid(`option user must be a user name or a numeric uid, got ${JSON.stringify(user)}`);
  if (account === undefined) invalid(`option user: no user ${JSON.stringify(user)} in /etc/passwd; create it, or give a numeric uid`);
  let gid: number;
  if (group === undefined) {
    if (!isId(account.gid)) invalid(`option user: uid ${account.id} has no entry in /etc/passwd to take its group from; give option group`);
    gid = account.gid;
  } else if (isId(group)) gid = group;
  else if (typeof group === 'string' && group !== '') {
    const found = entries('/etc/group').find((e) => e.name === group);
    if (found === undefined) invalid(`option group: no group ${JSON.stringify(group)} in /etc/group; create it, or give a numeric gid`);
    gid = found.id;
  } else invalid(`option group must be a group name or a numeric gid, got ${JSON.stringify(group)}`);
  const uid = process.getuid();
  if (uid !== 0 && (account.id !== uid || gid !== process.getgid?.())) {
    invalid(`options user and group need a primary started as root (this one runs as uid ${uid}): it binds the ports, then forks the workers as ${account.name}`);
  }
  return { uid: account.id, gid, env: { HOME: account.home, USER: account.name, LOGNAME: account.name } };
}
