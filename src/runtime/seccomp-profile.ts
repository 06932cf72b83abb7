import { open, realpath } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';

/** A seccomp profile is a page or two of JSON; anything far bigger is not one. */
const maxProfileBytes = 1024 * 1024;

/**
 * A Localhost seccomp profile's JSON text, for a runtime that takes the profile itself rather
 * than its path (Docker). `profile` comes from a pod spec: it must stay inside `dir` (the node's
 * <root-dir>/seccomp) after every link is resolved, and must be JSON; its content never goes into
 * an error message, since the name could point at any file of the node.
 */
export async function readSeccompProfile(dir: string, profile: string): Promise<string> {
  if (profile === '' || profile.startsWith('/') || profile.split('/').includes('..')) throw new Error('must be a relative path below the seccomp directory, without ".."');
  const base = await realpath(dir);
  const full = await realpath(join(base, profile));
  const rel = relative(base, full);
  if (rel === '' || rel.startsWith(`..${sep}`) || rel === '..') throw new Error(`resolves outside ${dir}`);
  const handle = await open(full, 'r');
  try {
    const buffer = Buffer.alloc(maxProfileBytes + 1);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    if (bytesRead > maxProfileBytes) throw new Error(`is larger than ${maxProfileBytes} bytes`);
    const text = buffer.subarray(0, bytesRead).toString('utf8');
    try {
      JSON.parse(text);
    } catch {
      throw new Error('is not valid JSON');
    }
    return text;
  } finally {
    await handle.close();
  }
}
