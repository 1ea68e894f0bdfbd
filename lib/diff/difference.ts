import type { Difference, Finding } from './types.js';

/** Depth-first visit of a Difference tree, parents before children (presenters and the summary use it). */
export function visit(node: Difference, fn: (node: Difference, depth: number) => void, depth = 0): void {
  fn(node, depth);
  for (const child of node.details) visit(child, fn, depth + 1);
}

/** Every finding of a report's tree, depth first, in the order found. */
export function allFindings(tree: Difference | null): Finding[] {
  const out: Finding[] = [];
  if (tree) visit(tree, (n) => out.push(...n.findings));
  return out;
}
