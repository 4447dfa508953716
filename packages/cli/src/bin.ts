#!/usr/bin/env node
import { main } from './main.js';

// A reader of our output that goes away (`handoff start app.js | head`) must not take the
// primary and its workers down with it.
process.stdout.on('error', () => {});
process.stderr.on('error', () => {});
const code = await main(process.argv.slice(2));
// Everything is closed by now; exit once what was written has left.
process.stdout.write('', () => process.exit(code));
