import { fileURLToPath } from 'node:url';

/** The steerable test app (see fixtures/app.mjs). */
export const app = fileURLToPath(new URL('./fixtures/app.mjs', import.meta.url));
/** A worker that throws at import. */
export const throws = fileURLToPath(new URL('./fixtures/throws.mjs', import.meta.url));
/** A primary in its own process. */
export const primaryScript = fileURLToPath(new URL('./fixtures/primary.mjs', import.meta.url));
/** The PROXY protocol tests' app: answers with the client it sees, the proxy's info and the body (see fixtures/proxy-app.mjs). */
export const proxyApp = fileURLToPath(new URL('./fixtures/proxy-app.mjs', import.meta.url));
