import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FdpassErrorCode } from '@handoff/fdpass';
import { PrimaryErrorCode } from '@handoff/orchestrator';
import { PolicyErrorCode } from '@handoff/policies';
import { ProtocolErrorCode } from '@handoff/protocol';
import { ProxyProtocolErrorCode } from '@handoff/proxy-protocol';
// Core packages are not each other's dependencies (no cycle); the built worker is imported by path.
import { WorkerErrorCode } from '../../worker/dist/index.js';
// The cli sits above the orchestrator: imported by path too.
import { CliErrorCode } from '../../cli/dist/index.js';
import { ControlErrorCode } from '../../cli/dist/control/protocol.js';

const table = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');

describe('docs/errors.md', () => {
  const codes = new Set<string>([
    ...Object.values(PrimaryErrorCode),
    ...Object.values(PolicyErrorCode),
    ...Object.values(ProtocolErrorCode),
    ...Object.values(ProxyProtocolErrorCode),
    ...Object.values(FdpassErrorCode),
    ...Object.values(WorkerErrorCode),
    ...Object.values(CliErrorCode),
    ...Object.values(ControlErrorCode),
  ]);

  it('documents every error code the packages define', () => {
    const missing = [...codes].filter((code) => !table.includes(`| \`${code}\` |`));
    expect(missing).toEqual([]);
  });

  it('documents no code that does not exist', () => {
    const documented = [...table.matchAll(/^\| `(HANDOFF_ERR_[A-Z_]+)` \|/gm)].map((m) => m[1]!);
    expect(documented.filter((code) => !codes.has(code))).toEqual([]);
  });
});
