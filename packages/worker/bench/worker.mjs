// The handoff worker of the bench: the same app as every other kind, through serve().
import { createServer } from 'node:http';
import { serve } from '../dist/index.js';

serve(createServer((req, res) => res.end('ok')));
