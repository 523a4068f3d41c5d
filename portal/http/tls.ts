/**
 * The certificate the portal shows admins' browsers and API clients: the one the admin gives
 * (--tls-cert, --tls-key), or one made on first start and kept in DATA/tls/ (self-signed, for this
 * machine's names and addresses). A made one is printed with its SHA-256 fingerprint, so that the
 * first browser visit can be checked against it, and `NODE_EXTRA_CA_CERTS=DATA/tls/cert.pem` lets
 * scripts and the shoal CLI trust it.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { hostname, networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { generate } from 'selfsigned';
import { ShoalError } from '../../shared/errors.js';

export interface TlsFiles {
  certFile: string;
  keyFile: string;
}

export interface PortalTls {
  cert: string;
  key: string;
  /** SHA-256, colon-separated hex, as browsers show it. */
  fingerprint: string;
  certFile: string;
  /** Made on this start (not given, not found from an earlier one). */
  made: boolean;
}

const MADE_DAYS = 825;

/** Names a made certificate is for: this host, localhost, and every address of this machine. */
function ownNames(extra: string[]): { dns: string[]; ips: string[] } {
  const ips = new Set(['127.0.0.1', '::1']);
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) ips.add(a.address.replace(/%.*$/, ''));
  const dns = new Set(['localhost', hostname()]);
  for (const e of extra) (/^[0-9.]+$|:/.test(e) ? ips : dns).add(e);
  return { dns: [...dns], ips: [...ips] };
}

function check(cert: string, key: string, where: string): X509Certificate {
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    throw new ShoalError(`${where}: not a PEM certificate (${(err as Error).message})`);
  }
  let matches: boolean;
  try {
    matches = x509.checkPrivateKey(createPrivateKey(key));
  } catch (err) {
    throw new ShoalError(`${where}: the key is not a PEM private key (${(err as Error).message})`);
  }
  if (!matches) throw new ShoalError(`${where}: the key does not belong to the certificate`);
  if (Date.parse(x509.validTo) < Date.now()) throw new ShoalError(`${where}: the certificate expired on ${x509.validTo}`);
  return x509;
}

export async function portalTls(dataDir: string, given: TlsFiles | undefined, names: string[] = []): Promise<PortalTls> {
  if (given) {
    const read = (f: string) => {
      try {
        return readFileSync(f, 'utf8');
      } catch (err) {
        throw new ShoalError(`--tls-cert/--tls-key: cannot read ${f}: ${(err as Error).message}`);
      }
    };
    const [cert, key] = [read(given.certFile), read(given.keyFile)];
    const x509 = check(cert, key, `--tls-cert ${given.certFile}, --tls-key ${given.keyFile}`);
    return { cert, key, fingerprint: x509.fingerprint256, certFile: given.certFile, made: false };
  }
  const dir = join(dataDir, 'tls');
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  if (existsSync(certFile) && existsSync(keyFile)) {
    const [cert, key] = [readFileSync(certFile, 'utf8'), readFileSync(keyFile, 'utf8')];
    const x509 = check(cert, key, `${dir} (remove it for a new certificate)`);
    return { cert, key, fingerprint: x509.fingerprint256, certFile, made: false };
  }
  const { dns, ips } = ownNames(names);
  const made = await generate([{ name: 'commonName', value: `Shoal portal on ${hostname()}` }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate: new Date(Date.now() - 60_000),
    notAfterDate: new Date(Date.now() + MADE_DAYS * 86_400_000),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [...dns.map((value) => ({ type: 2 as const, value })), ...ips.map((ip) => ({ type: 7 as const, ip }))] },
    ],
  });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // Key first, each written whole before it is named: a start cut short leaves no half pair.
  writeFileSync(`${keyFile}.tmp`, made.private, { mode: 0o600 });
  renameSync(`${keyFile}.tmp`, keyFile);
  writeFileSync(`${certFile}.tmp`, made.cert);
  renameSync(`${certFile}.tmp`, certFile);
  return { cert: made.cert, key: made.private, fingerprint: new X509Certificate(made.cert).fingerprint256, certFile, made: true };
}
