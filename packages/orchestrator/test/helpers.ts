import { fileURLToPath } from 'node:url';

/** The steerable test app (see fixtures/app.mjs). */
export const app = fileURLToPath(new URL('./fixtures/app.mjs', import.meta.url));
/** A worker that throws at import. */
export const throws = fileURLToPath(new URL('./fixtures/throws.mjs', import.meta.url));
/** A primary in its own process. */
export const primaryScript = fileURLToPath(new URL('./fixtures/primary.mjs', import.meta.url));
