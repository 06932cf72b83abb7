import { access, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from './exec.ts';

/**
 * The lab's certificate authority and certificates, made with openssl the way kubeadm lays them
 * out: one cluster CA that signs the apiserver's serving certificate and every client identity,
 * and a separate key pair for signing service-account tokens. Files are created once and reused.
 */
export interface ClientIdentity {
  /** File stem, e.g. "admin" or "node-worker-1". */
  name: string;
  commonName: string;
  organizations: string[];
}

export class Pki {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  get caCert(): string { return join(this.dir, 'ca.crt'); }
  get caKey(): string { return join(this.dir, 'ca.key'); }
  get saKey(): string { return join(this.dir, 'sa.key'); }
  get saPub(): string { return join(this.dir, 'sa.pub'); }
  cert(name: string): string { return join(this.dir, `${name}.crt`); }
  key(name: string): string { return join(this.dir, `${name}.key`); }

  async ensureCa(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    if (!(await exists(this.caCert))) {
      await this.newKey(this.caKey);
      await run('openssl', ['req', '-x509', '-new', '-key', this.caKey, '-subj', '/CN=node-agent-lab-ca', '-days', '3650', '-out', this.caCert,
        '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature']);
    }
    if (!(await exists(this.saPub))) {
      await run('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', this.saKey]);
      await run('openssl', ['pkey', '-in', this.saKey, '-pubout', '-out', this.saPub]);
    }
  }

  /** A serving certificate for the given IPs and DNS names. */
  async ensureServing(name: string, commonName: string, ips: string[], dnsNames: string[]): Promise<void> {
    const san = [...ips.map((ip) => `IP:${ip}`), ...dnsNames.map((d) => `DNS:${d}`)].join(',');
    await this.sign(name, `/CN=${commonName}`, ['subjectAltName=' + san, 'extendedKeyUsage=serverAuth', 'keyUsage=critical,digitalSignature,keyEncipherment']);
  }

  /** A client certificate: CN is the user, O the groups (how Kubernetes reads x509 identities). */
  async ensureClient(identity: ClientIdentity): Promise<void> {
    const subject = `/CN=${identity.commonName}${identity.organizations.map((o) => `/O=${o}`).join('')}`;
    await this.sign(identity.name, subject, ['extendedKeyUsage=clientAuth', 'keyUsage=critical,digitalSignature,keyEncipherment']);
  }

  private async sign(name: string, subject: string, extensions: string[]): Promise<void> {
    if (await exists(this.cert(name))) return;
    await this.newKey(this.key(name));
    const csr = await run('openssl', ['req', '-new', '-key', this.key(name), '-subj', subject]);
    const extFile = join(this.dir, `${name}.ext`);
    await writeFile(extFile, extensions.join('\n') + '\n');
    await run('openssl', ['x509', '-req', '-CA', this.caCert, '-CAkey', this.caKey, '-CAcreateserial', '-days', '825', '-extfile', extFile, '-out', this.cert(name)], { input: csr });
  }

  private async newKey(path: string): Promise<void> {
    // EC P-256: as strong as RSA-3072 for this use and an order of magnitude faster to make.
    await run('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', path]);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
