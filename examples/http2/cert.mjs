// A self-signed certificate for localhost / 127.0.0.1 / ::1, made at run time when absent: with the
// `openssl` CLI when it is installed, otherwise with the `selfsigned` package. Key and certificate
// live in one PEM file, `<dir>/localhost.pem` (dir: CERT_DIR, default ./.cert, git-ignored).
import { execFileSync } from 'node:child_process';
import { existsSync, linkSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const defaultCertDir = fileURLToPath(new URL('./.cert/', import.meta.url));

function hasOpenssl() {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function withOpenssl(dir) {
  const tmp = mkdtempSync(join(dir, '.openssl-'));
  try {
    const keyout = join(tmp, 'key.pem');
    const out = join(tmp, 'cert.pem');
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-sha256', '-days', '365',
        '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1', '-keyout', keyout, '-out', out],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    return readFileSync(keyout, 'utf8') + readFileSync(out, 'utf8');
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

async function withSelfsigned() {
  const { generate } = (await import('selfsigned')).default;
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }, { type: 7, ip: '::1' }] }],
  });
  return pems.private + pems.cert;
}

/**
 * `{ key, cert }` for `https` / `http2` / `tls`, from `<dir>/localhost.pem`, generated first if absent.
 * Safe when several workers start at once: the file is created whole, once (a hard link that fails
 * if it exists), and every process reads the one that won.
 */
export async function ensureCert(dir = process.env.CERT_DIR ?? defaultCertDir) {
  const file = join(dir, 'localhost.pem');
  if (!existsSync(file)) {
    mkdirSync(dir, { recursive: true });
    const pem = hasOpenssl() ? withOpenssl(dir) : await withSelfsigned();
    const tmp = join(dir, `.localhost.pem.${process.pid}.tmp`);
    writeFileSync(tmp, pem, { mode: 0o600 });
    try {
      linkSync(tmp, file);
    } catch (error) {
      if (error.code !== 'EEXIST') throw error;
    } finally {
      rmSync(tmp, { force: true });
    }
  }
  const pem = readFileSync(file, 'utf8');
  return { key: pem, cert: pem };
}
