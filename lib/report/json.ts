import { KreproError } from '../errors.js';
import { DIFF_REPORT_SCHEMA, type DiffReport } from '../diff/types.js';
import { parseJson, quote } from '../quote.js';

/** The report as JSON (schemas/diff-report.schema.json): the library's own value, nothing recomputed. */
export function renderJson(report: DiffReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}

/**
 * A report saved with `renderJson`, read back for re-rendering (`krepro diff --from-json`): checked for the
 * schema id and the fields the presenters read, so a wrong file is an error naming it, not a broken page.
 */
export function parseJsonReport(text: string, file: string): DiffReport {
  const value = parseJson(text, (where) => new KreproError('E_USAGE', `${file} is not JSON (${where}): give a report written by krepro diff --json`, { path: file }));
  const r = value as Partial<DiffReport> | null;
  if (!r || typeof r !== 'object' || r.schema !== DIFF_REPORT_SCHEMA) {
    throw new KreproError('E_USAGE', `${file} is not a krepro diff report: its "schema" is ${quote(r && typeof r === 'object' ? r.schema : r)}, expected ${JSON.stringify(DIFF_REPORT_SCHEMA)}`, { path: file });
  }
  const missing = (['source1', 'source2', 'identical', 'summary', 'causes', 'refused', 'tree'] as const).filter((k) => !(k in r));
  if (missing.length || !Array.isArray(r.refused) || !Array.isArray(r.summary?.causes)) {
    throw new KreproError('E_USAGE', `${file} is an incomplete krepro diff report (missing or malformed: ${missing.join(', ') || 'summary.causes, refused'})`, { path: file });
  }
  return r as DiffReport;
}
