import { posix } from 'node:path';
import { dns1123LabelError, dns1123SubdomainError } from '../util/dns-names.ts';
import type { V1Container, V1KeyToPath, V1Pod, V1Volume } from '@kubernetes/client-node';

/**
 * The apiserver's validation of a Pod, for the part whose strings reach the node's filesystem or
 * the runtime: names, volumes, mounts, item paths and modes, ports, env names. Pods from the
 * apiserver have passed it already; static pods read from a manifest directory have not, and
 * without it a volume named "../../../../etc" is a path out of the pod's directory. The messages
 * are the apiserver's ("spec.volumes[0].name: Invalid value: ...") so they read as a user knows them.
 */

const envVarNameRe = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;
const portNameRe = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;


const invalid = (field: string, value: unknown, detail: string) => `${field}: Invalid value: ${JSON.stringify(value)}: ${detail}`;
const required = (field: string) => `${field}: Required value`;
const duplicate = (field: string, value: unknown) => `${field}: Duplicate value: ${JSON.stringify(value)}`;
const notFound = (field: string, value: unknown) => `${field}: Not found: ${JSON.stringify(value)}`;
const unsupported = (field: string, value: unknown, allowed: string[]) => `${field}: Unsupported value: ${JSON.stringify(value)}: supported values: ${allowed.map((a) => `"${a}"`).join(', ')}`;

/** The apiserver's validateLocalDescendingPath: relative, and no ".." element. */
export function localDescendingPathError(path: string): string | undefined {
  if (path.startsWith('/')) return 'must be a relative path';
  if (path.split('/').includes('..')) return "must not contain '..'";
  return undefined;
}

function checkLabel(errors: string[], field: string, value: unknown): void {
  if (typeof value !== 'string' || value === '') return void errors.push(required(field));
  const problem = dns1123LabelError(value);
  if (problem) errors.push(invalid(field, value, problem));
}

function checkMode(errors: string[], field: string, mode: unknown): void {
  if (mode === undefined || mode === null) return;
  if (typeof mode !== 'number' || !Number.isInteger(mode) || mode < 0 || mode > 0o777) {
    errors.push(invalid(field, mode, 'must be a number between 0 and 0777 (octal), both inclusive'));
  }
}

function checkItems(errors: string[], field: string, items: V1KeyToPath[] | undefined, keyed: boolean): void {
  (items ?? []).forEach((item, i) => {
    const f = `${field}.items[${i}]`;
    if (keyed && !item.key) errors.push(required(`${f}.key`));
    checkItemPath(errors, `${f}.path`, item.path);
    checkMode(errors, `${f}.mode`, item.mode);
  });
}

function checkItemPath(errors: string[], field: string, path: unknown): void {
  if (typeof path !== 'string' || path === '') return void errors.push(required(field));
  const problem = localDescendingPathError(path);
  if (problem) return void errors.push(invalid(field, path, problem));
  // The apiserver's validateLocalNonReservedPath: "..data" and the writer's timestamped directories are its own.
  // Checked on the cleaned path too (stricter than the apiserver): "./..data" is "..data" on disk.
  if (posix.normalize(path).startsWith('..')) errors.push(invalid(field, path, "must not start with '..'"));
}

const volumeSources = [
  'emptyDir', 'hostPath', 'configMap', 'secret', 'downwardAPI', 'projected', 'persistentVolumeClaim', 'nfs', 'csi', 'ephemeral', 'image',
  'iscsi', 'rbd', 'cephfs', 'fc', 'flocker', 'azureDisk', 'azureFile', 'vsphereVolume', 'quobyte', 'gcePersistentDisk', 'awsElasticBlockStore',
  'gitRepo', 'glusterfs', 'cinder', 'flexVolume', 'portworxVolume', 'scaleIO', 'storageos', 'photonPersistentDisk',
] as const;

function checkVolume(errors: string[], volume: V1Volume, i: number): void {
  const field = `spec.volumes[${i}]`;
  checkLabel(errors, `${field}.name`, volume.name);
  const record = volume as unknown as Record<string, unknown>;
  const sources = volumeSources.filter((s) => record[s] !== undefined && record[s] !== null);
  if (sources.length > 1) errors.push(`${field}.${sources[1]}: Forbidden: may not specify more than 1 volume type`);
  if (volume.hostPath) {
    const path = volume.hostPath.path;
    if (!path) errors.push(required(`${field}.hostPath.path`));
    else if (path.split('/').includes('..')) errors.push(invalid(`${field}.hostPath.path`, path, "must not contain '..'"));
  }
  if (volume.configMap) {
    checkMode(errors, `${field}.configMap.defaultMode`, volume.configMap.defaultMode);
    checkItems(errors, `${field}.configMap`, volume.configMap.items, true);
  }
  if (volume.secret) {
    checkMode(errors, `${field}.secret.defaultMode`, volume.secret.defaultMode);
    checkItems(errors, `${field}.secret`, volume.secret.items, true);
  }
  if (volume.downwardAPI) {
    checkMode(errors, `${field}.downwardAPI.defaultMode`, volume.downwardAPI.defaultMode);
    (volume.downwardAPI.items ?? []).forEach((item, j) => {
      checkItemPath(errors, `${field}.downwardAPI.items[${j}].path`, item.path);
      checkMode(errors, `${field}.downwardAPI.items[${j}].mode`, item.mode);
    });
  }
  if (volume.projected) {
    checkMode(errors, `${field}.projected.defaultMode`, volume.projected.defaultMode);
    (volume.projected.sources ?? []).forEach((source, j) => {
      const f = `${field}.projected.sources[${j}]`;
      if (source.configMap) checkItems(errors, `${f}.configMap`, source.configMap.items, true);
      if (source.secret) checkItems(errors, `${f}.secret`, source.secret.items, true);
      (source.downwardAPI?.items ?? []).forEach((item, k) => {
        checkItemPath(errors, `${f}.downwardAPI.items[${k}].path`, item.path);
        checkMode(errors, `${f}.downwardAPI.items[${k}].mode`, item.mode);
      });
      if (source.serviceAccountToken) checkItemPath(errors, `${f}.serviceAccountToken.path`, source.serviceAccountToken.path);
    });
  }
}

function checkContainer(errors: string[], field: string, c: V1Container, volumes: ReadonlySet<string>): void {
  checkLabel(errors, `${field}.name`, c.name);
  if (!c.image) errors.push(required(`${field}.image`));
  (c.env ?? []).forEach((env, i) => {
    if (!env.name) errors.push(required(`${field}.env[${i}].name`));
    else if (!envVarNameRe.test(env.name)) errors.push(invalid(`${field}.env[${i}].name`, env.name, "a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit"));
  });
  const mountPaths = new Set<string>();
  (c.volumeMounts ?? []).forEach((m, i) => {
    const f = `${field}.volumeMounts[${i}]`;
    if (!m.name) errors.push(required(`${f}.name`));
    else if (!volumes.has(m.name)) errors.push(notFound(`${f}.name`, m.name));
    if (!m.mountPath) errors.push(required(`${f}.mountPath`));
    else if (mountPaths.has(m.mountPath)) errors.push(invalid(`${f}.mountPath`, m.mountPath, 'must be unique'));
    else mountPaths.add(m.mountPath);
    if (m.subPath) {
      const problem = localDescendingPathError(m.subPath);
      if (problem) errors.push(invalid(`${f}.subPath`, m.subPath, problem));
    }
    if (m.subPath && m.subPathExpr) errors.push(invalid(`${f}.subPathExpr`, m.subPathExpr, 'subPathExpr and subPath are mutually exclusive'));
  });
  const portNames = new Set<string>();
  (c.ports ?? []).forEach((p, i) => {
    const f = `${field}.ports[${i}]`;
    if (!Number.isInteger(p.containerPort) || p.containerPort < 1 || p.containerPort > 65535) errors.push(invalid(`${f}.containerPort`, p.containerPort, 'must be between 1 and 65535, inclusive'));
    if (p.hostPort !== undefined && (!Number.isInteger(p.hostPort) || p.hostPort < 0 || p.hostPort > 65535)) errors.push(invalid(`${f}.hostPort`, p.hostPort, 'must be between 1 and 65535, inclusive'));
    if (p.protocol !== undefined && !['TCP', 'UDP', 'SCTP'].includes(p.protocol)) errors.push(unsupported(`${f}.protocol`, p.protocol, ['SCTP', 'TCP', 'UDP']));
    if (p.name !== undefined) {
      if (p.name.length > 15 || !portNameRe.test(p.name) || !/[a-z]/.test(p.name) || p.name.includes('--')) errors.push(invalid(`${f}.name`, p.name, 'must be an IANA_SVC_NAME (at most 15 lower case alphanumeric characters or \'-\', with at least one letter, no "--", not starting or ending with \'-\')'));
      else if (portNames.has(p.name)) errors.push(duplicate(`${f}.name`, p.name));
      portNames.add(p.name);
    }
  });
}

/**
 * The apiserver's errors for this pod, in its wording; empty when it is valid. `name` is checked
 * as given: for a static pod, the name it runs under ("<manifest name>-<node>").
 */
export function validatePod(pod: V1Pod): string[] {
  const errors: string[] = [];
  const name = pod.metadata?.name;
  if (!name) errors.push(required('metadata.name'));
  else {
    const problem = dns1123SubdomainError(name);
    if (problem) errors.push(invalid('metadata.name', name, problem));
  }
  const namespace = pod.metadata?.namespace;
  if (namespace !== undefined) checkLabel(errors, 'metadata.namespace', namespace);
  const spec = pod.spec;
  if (!spec) return [...errors, required('spec')];

  const volumes = new Set<string>();
  (spec.volumes ?? []).forEach((v, i) => {
    checkVolume(errors, v, i);
    if (volumes.has(v.name)) errors.push(duplicate(`spec.volumes[${i}].name`, v.name));
    volumes.add(v.name);
  });
  if (!spec.containers?.length) errors.push(required('spec.containers'));
  const containerNames = new Set<string>();
  for (const [list, key] of [[spec.initContainers ?? [], 'initContainers'], [spec.containers ?? [], 'containers']] as const) {
    list.forEach((c, i) => {
      checkContainer(errors, `spec.${key}[${i}]`, c, volumes);
      if (c.name && containerNames.has(c.name)) errors.push(duplicate(`spec.${key}[${i}].name`, c.name));
      containerNames.add(c.name);
    });
  }
  if (spec.restartPolicy !== undefined && !['Always', 'OnFailure', 'Never'].includes(spec.restartPolicy)) errors.push(unsupported('spec.restartPolicy', spec.restartPolicy, ['Always', 'OnFailure', 'Never']));
  if (spec.dnsPolicy !== undefined && !['ClusterFirstWithHostNet', 'ClusterFirst', 'Default', 'None'].includes(spec.dnsPolicy)) errors.push(unsupported('spec.dnsPolicy', spec.dnsPolicy, ['ClusterFirstWithHostNet', 'ClusterFirst', 'Default', 'None']));
  const grace = spec.terminationGracePeriodSeconds;
  if (grace !== undefined && (!Number.isInteger(grace) || grace < 0)) errors.push(invalid('spec.terminationGracePeriodSeconds', grace, 'must be greater than or equal to 0'));
  if (spec.hostname !== undefined) checkLabel(errors, 'spec.hostname', spec.hostname);
  if (spec.subdomain !== undefined) checkLabel(errors, 'spec.subdomain', spec.subdomain);
  return errors;
}
