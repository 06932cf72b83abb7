/**
 * The user an image's config names ("1000", "1000:1000", "app", "app:staff", or ""), as CRI's
 * Image reports it: a numeric uid, or a user name, or neither (root). containerd parses the same
 * way; the Docker backend uses this to report what containerd would.
 */
export function imageUser(user: string | undefined): { uid?: number; username?: string } {
  const name = (user ?? '').split(':')[0] ?? '';
  if (name === '') return {};
  if (/^[0-9]+$/.test(name)) return { uid: Number(name) };
  return { username: name };
}
