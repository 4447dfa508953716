// A handoff worker running the bench app.
import { createServer } from 'node:http';
import { serve } from '@handoff/worker';
import { handle } from './app.js';

serve(createServer(handle));
