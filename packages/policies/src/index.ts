export type { BalanceSettings, ConnectionInfo, Policy, PolicyMode, PrimaryPolicy, ReusePortPolicy, SharedPolicy, WorkerView } from './types.js';
export { HandoffPolicyError, PolicyErrorCode } from './errors.js';
export { roundRobin } from './round-robin.js';
export { leastConnections } from './least-connections.js';
export { weighted, type WeightedOptions } from './weighted.js';
export { powerOfTwoChoices, type PowerOfTwoChoicesOptions } from './power-of-two-choices.js';
export { ipHash, type IpHashOptions } from './ip-hash.js';
export { random, type RandomOptions } from './random.js';
export { peakEwma, type PeakEwmaOptions } from './peak-ewma.js';
export { sharedHandle } from './shared-handle.js';
export { balancedShared, type BalancedSharedOptions } from './balanced-shared.js';
export { reusePort } from './reuse-port.js';
export {
  decide,
  fairLimit,
  loanLimit,
  probeDue,
  probeInterval,
  standing,
  release,
  MAX_EXCESS,
  NO_LIMIT,
  MIN_PAUSE_MS,
  PRESSURE_MS,
  PRESSURE_PROBE_MS,
  QUIET_PROBE_MS,
  SUGGESTED_BUSY_AFTER_MS,
  type Move,
  type Standing,
  type SteeringClock,
  type SteeringRecord,
} from './balance.js';
export { freshTurnover, lifetimeOf, shortLived, turnover, LONG_LIVED_MS, SHORT_LIVED_MS, SHORT_WINDOWS, TURNOVER_WINDOW_MS, type Turnover } from './turnover.js';
export { builtinPolicies, builtinPolicyUsage, isBuiltinPolicy, type BuiltinOption, type BuiltinPolicy, type BuiltinPolicyName } from './registry.js';
