/**
 * `node --import @handoff/worker/register app.js`: drop-in mode for an unmodified app. Inside a
 * worker forked by a handoff primary (the orchestrator passes this preload when told `dropIn: true`),
 * the app's own `server.listen(port)` takes its connections from the primary; run alone, nothing
 * changes.
 */
import { installDropIn } from './dropin.js';

installDropIn();
