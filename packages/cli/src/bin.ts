#!/usr/bin/env node
import { main } from './main.js';

const code = await main(process.argv.slice(2));
// Everything is closed by now; exit once what was written has left.
process.stdout.write('', () => process.exit(code));
