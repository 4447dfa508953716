export { get, pidOf, type GetOptions, type TestResponse } from './http.js';
export { freePort, isAlive, killAll, waitFor } from './processes.js';
export { startTestPrimary, type TestPrimary } from './primary.js';
export { runLoad, type LoadOptions, type LoadResult } from './load.js';
export { startLoadProcess, type LoadProcess, type LoadProcessOptions, type LoadProcessResult } from './load-process.js';
