export type { ConnectionInfo, Policy, PolicyMode, PrimaryPolicy, ReusePortPolicy, SharedPolicy, WorkerView } from './types.js';
export { roundRobin } from './round-robin.js';
export { sharedHandle } from './shared-handle.js';
export { balancedShared, type BalancedSharedOptions } from './balanced-shared.js';
