/**
 * The one ordering krepro uses wherever order reaches bytes or reports: UTF-8 bytes, as `LC_ALL=C sort` orders
 * them. Never locale collation (`localeCompare`) or UTF-16 code units (`Array.prototype.sort`), which disagree
 * with C order for non-ASCII names (e.g. U+FF21 against U+1F600).
 */
export function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** Sorts in place by `key` (the value itself by default) in byte order, and returns the array. */
export function sortByBytes<T>(items: T[], key: (item: T) => string = (item) => item as unknown as string): T[] {
  return items.sort((a, b) => byteOrder(key(a), key(b)));
}
