import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { HandoffError, HandoffMetricsError, MetricsErrorCode } from '@handoff/metrics';

const table = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');

describe('HandoffMetricsError', () => {
  it('is a HandoffError whose every code docs/errors.md lists for it', () => {
    const e = new HandoffMetricsError(MetricsErrorCode.PORT_IN_USE, 'taken');
    expect(e).toBeInstanceOf(HandoffError);
    expect(e.name).toBe('HandoffMetricsError');
    for (const code of Object.values(MetricsErrorCode)) {
      const row = table.split('\n').find((l) => l.startsWith(`| \`${code}\` |`));
      expect(row, code).toBeDefined();
      expect(row).toContain('HandoffMetricsError');
    }
  });
});
