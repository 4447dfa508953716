import { readFileSync } from 'node:fs';
import { HandoffPrimaryError, PrimaryErrorCode } from './errors.js';

/** Who the workers run as (`user` / `group` options), resolved once at `start()`. */
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

/** The `user` and `group` options after validation, before /etc/passwd and /etc/group are read. */
export interface Account {
  readonly user: string | number;
  readonly group: string | number | undefined;
}

/**
 * Checks the `user` and `group` options without reading anything: a name or a numeric id each,
 * `group` only with `user`. Undefined when neither is given (the workers run as the primary).
 */
export function validateAccount(user: unknown, group: unknown): Account | undefined {
  if (user === undefined && group === undefined) return undefined;
  if (user === undefined) invalid('option group needs user too: the workers run as that user and group');
  if (!isId(user) && (typeof user !== 'string' || user === '')) invalid(`option user must be a user name or a numeric uid, got ${JSON.stringify(user)}`);
  if (group !== undefined && !isId(group) && (typeof group !== 'string' || group === '')) invalid(`option group must be a group name or a numeric gid, got ${JSON.stringify(group)}`);
  return { user, group: group as string | number | undefined };
}

/**
 * Resolves a validated account (names from /etc/passwd and /etc/group, or numeric ids) to the ids
 * the workers are forked with; `group` defaults to the user's primary group. Only a primary running
 * as root can change the workers' identity (binding ports below 1024 first). Reads the files and
 * the process's ids: called at `start()`.
 */
export function resolveIdentity(account: Account | undefined): Identity | undefined {
  if (account === undefined) return undefined;
  if (typeof process.getuid !== 'function') invalid('options user and group work on POSIX systems only');
  const { user, group } = account;
  const entry = isId(user) ? (entries('/etc/passwd').find((e) => e.id === user) ?? { name: String(user), id: user, gid: NaN, home: '/' }) : entries('/etc/passwd').find((e) => e.name === user);
  if (entry === undefined) invalid(`option user: no user ${JSON.stringify(user)} in /etc/passwd; create it, or give a numeric uid`);
  let gid: number;
  if (group === undefined) {
    if (!isId(entry.gid)) invalid(`option user: uid ${entry.id} has no entry in /etc/passwd to take its group from; give option group`);
    gid = entry.gid;
  } else if (isId(group)) gid = group;
  else {
    const found = entries('/etc/group').find((e) => e.name === group);
    if (found === undefined) invalid(`option group: no group ${JSON.stringify(group)} in /etc/group; create it, or give a numeric gid`);
    gid = found.id;
  }
  const uid = process.getuid();
  if (uid !== 0 && (entry.id !== uid || gid !== process.getgid?.())) {
    invalid(`options user and group need a primary started as root (this one runs as uid ${uid}): it binds the ports, then forks the workers as ${entry.name}`);
  }
  return { uid: entry.id, gid, env: { HOME: entry.home, USER: entry.name, LOGNAME: entry.name } };
}
