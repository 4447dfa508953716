export { serveMetrics, type MetricsServer } from './serve.js';
export type { AppMetricsOptions, ServeMetricsOptions, UpgradeCounts } from './options.js';
export { HandoffMetricsError, MetricsErrorCode } from './errors.js';
export { OWN_NAMES as METRIC_NAMES } from './collect.js';
export { HandoffError } from '@handoff/protocol';
