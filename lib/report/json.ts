import type { DiffReport } from '../diff/types.js';

/** The report as JSON (schemas/diff-report.schema.json): the library's own value, nothing recomputed. */
export function renderJson(report: DiffReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}
