import { allFindings, visit } from './difference.js';
import type { Difference } from './types.js';

/**
 * diffoscope's --max-report-size, applied to the report itself so every format (JSON included, still valid)
 * obeys it: nodes are kept depth first while their JSON fits in `maxBytes`; a node that would pass it loses its
 * diff and byte ranges, and the nodes after it are dropped, each place saying what was cut. The summary's counts
 * are made before, so they still cover everything.
 */
export function cutTree(tree: Difference, maxBytes: number): { nodes: number; findings: number } | undefined {
  const state = { used: 0, nodes: 0, findings: 0 };
  const note = `(the report size limit is ${maxBytes} bytes: maxReportSize / --max-report-size)`;
  const keep = (node: Difference): void => {
    const own = JSON.stringify({ ...node, details: [] }).length;
    if (state.used + own > maxBytes && (node.unified_diff !== undefined || node.ranges)) {
      delete node.unified_diff;
      delete node.ranges;
      node.comments.push(`diff and byte ranges cut ${note}`);
    }
    state.used += JSON.stringify({ ...node, details: [] }).length;
    const children: Difference[] = [];
    let nodes = 0;
    let findings = 0;
    for (const child of node.details) {
      if (state.used < maxBytes) {
        keep(child);
        children.push(child);
        continue;
      }
      visit(child, () => nodes++);
      findings += allFindings(child).length;
    }
    if (nodes) {
      node.comments.push(`${nodes} more section${nodes === 1 ? '' : 's'} with ${findings} finding${findings === 1 ? '' : 's'} not shown ${note}`);
      state.nodes += nodes;
      state.findings += findings;
    }
    node.details = children;
  };
  keep(tree);
  return state.nodes || state.used > maxBytes ? { nodes: state.nodes, findings: state.findings } : undefined;
}
