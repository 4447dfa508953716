import type { LoadSpec } from './load.js';

/** A kind of traffic the bench sends. */
export interface Workload {
  readonly name: string;
  readonly description: string;
  readonly load: Omit<LoadSpec, 'port' | 'seconds' | 'loader'>;
  /** Workers for this workload, when it needs a fixed count (fairness: 8). */
  readonly workers?: number;
}

/** Every workload, in report order. */
export const WORKLOADS: readonly Workload[] = [
  { name: 'keep-alive', description: '64 keep-alive connections, as fast as they go', load: { kind: 'keep-alive', connections: 64 } },
  { name: 'churn', description: '64 loops, a new connection per request (Connection: close)', load: { kind: 'churn', connections: 64 } },
  { name: 'mixed', description: 'churn where 10% of requests burn 10 ms of CPU', load: { kind: 'churn', connections: 64, burnFraction: 0.1 } },
  { name: 'mixed-rate', description: 'the same mix arriving at a fixed 1,000 req/s (about three quarters of what 2 workers can burn): where picking a free worker shows in p99', load: { kind: 'churn', connections: 64, burnFraction: 0.1, rate: 1000 } },
  { name: 'fairness', description: '8 workers, 64 keep-alive connections at a fixed 2,000 req/s', load: { kind: 'keep-alive', connections: 64, rate: 2000 }, workers: 8 },
  { name: 'idle', description: '5,000 idle connections held open, 64 active keep-alive', load: { kind: 'keep-alive', connections: 64, idle: 5000 } },
];
