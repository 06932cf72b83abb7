import { chmod, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { pathExists } from '../util/path-exists.ts';

/**
 * The kubelet API's serving certificate: the configured tlsCertFile and tlsPrivateKeyFile, or,
 * as the kubelet does without them, a self-signed one made once under the root
 * (<root>/pki/kubelet.crt, valid for the node IP and hostname). A self-signed certificate serves,
 * but an apiserver that checks kubelets (--kubelet-certificate-authority) refuses it: clusters
 * that check give the node a certificate from their CA.
 */
export async function servingCertificate(options: { certFile: string | undefined; keyFile: string | undefined; rootDir: string; nodeName: string; nodeIP: string; hostname: string }): Promise<{ cert: Buffer; key: Buffer; selfSigned: boolean; certFile: string }> {
  if (options.certFile && options.keyFile) {
    return { cert: await readFile(options.certFile), key: await readFile(options.keyFile), selfSigned: false, certFile: options.certFile };
  }
  const dir = join(options.rootDir, 'pki');
  const certFile = join(dir, 'kubelet.crt');
  const keyFile = join(dir, 'kubelet.key');
  if (!(await pathExists(certFile)) || !(await pathExists(keyFile))) {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const san = [`IP:${options.nodeIP}`, `DNS:${options.hostname}`, ...(options.hostname !== options.nodeName ? [`DNS:${options.nodeName}`] : [])].join(',');
    await execa('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '365',
      '-subj', `/CN=${options.hostname}@${Math.floor(Date.now() / 1000)}`, '-addext', `subjectAltName=${san}`,
      '-keyout', keyFile, '-out', certFile,
    ]);
    await chmod(keyFile, 0o600);
  }
  return { cert: await readFile(certFile), key: await readFile(keyFile), selfSigned: true, certFile };
}
