import { sep } from 'node:path';

/** What a subPath may say, before anything on disk is looked at (subpath.ts does that). */

/** Why a subPath's text is refused (kubelet's own wording), or undefined when it is acceptable. Pure. */
export function subPathTextError(subPath: string): string | undefined {
  if (subPath.startsWith('/')) return `error SubPath \`${subPath}\` must not be an absolute path`;
  if (subPath.split('/').includes('..')) return `unable to provision SubPath \`${subPath}\`: must not contain '..'`;
  if (subPath.includes('\0')) return `unable to provision SubPath \`${subPath}\`: must not contain NUL`;
  return undefined;
}

/** `p` is `base` or below it (both absolute and normalized). Pure. */
export function isWithin(base: string, p: string): boolean {
  return p === base || p.startsWith(base.endsWith(sep) ? base : base + sep);
}
