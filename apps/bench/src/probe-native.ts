// `node probe-native.js`: prints `{ available, reason }` from @handoff/fdpass's nativeStatus(), as
// this Node binary sees it. The bench reaches fdpass through the orchestrator (its dependency), so
// the answer is the one the servers' primary gets.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const orchestrator = createRequire(import.meta.url).resolve('@handoff/orchestrator/package.json');
const manifest = createRequire(orchestrator).resolve('@handoff/fdpass/package.json');
const main = (JSON.parse(readFileSync(manifest, 'utf8')) as { main?: string }).main ?? 'dist/index.js';
const fdpass = (await import(pathToFileURL(resolve(dirname(manifest), main)).href)) as { nativeStatus(): { available: boolean; reason: string | undefined } };
const status = fdpass.nativeStatus();
process.stdout.write(`${JSON.stringify(status.available ? { available: true } : { available: false, reason: status.reason })}\n`);
