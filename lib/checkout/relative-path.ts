/** A relative POSIX path with no empty, `.` or `..` component: safe to join under a directory. */
export function isSafeRelativePath(p: string): boolean {
  if (p === '' || p.startsWith('/') || p.includes('\0')) return false;
  return p.split('/').every((c) => c !== '' && c !== '.' && c !== '..');
}
