/**
 * Comparing two files or trees (tarballs, gzip, ELF, JSON, images…) into findings, each with its cause and fix;
 * and the report formats.
 *
 * @packageDocumentation
 */
export { diff } from '../diff/compare.js';
export { CAUSES, type CauseId } from '../diff/findings.js';
export { allFindings, visit as visitDifferences } from '../diff/difference.js';
export {
  DEFAULT_LIMITS,
  DIFF_REPORT_SCHEMA,
  type ByteRange,
  type DiffLimits,
  type DiffOptions,
  type DiffReport,
  type Difference,
  type Finding,
  type Location,
  type Refusal,
  type Side,
  type Span,
} from '../diff/types.js';
export { renderText as renderDiffText } from '../report/text.js';
export { renderJson as renderDiffJson, parseJsonReport as parseDiffJson } from '../report/json.js';
export { renderMarkdown as renderDiffMarkdown } from '../report/markdown.js';
export { renderHtml as renderDiffHtml } from '../report/html.js';
