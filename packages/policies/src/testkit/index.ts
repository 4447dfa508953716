export {
  ConformanceError,
  runConformance,
  type ConformanceCheck,
  type ConformanceOptions,
  type ConformanceReport,
  type PolicyFactory,
  type PolicyFactoryContext,
} from './conformance.js';
export { simulate, type SimulatedWorker, type SimulationResult, type Workload } from './simulate.js';
export { seededRandom } from './random.js';
