/**
 * Verifying that a release builds reproducibly: builds run under varied conditions, every difference attributed to
 * its cause with a fix; and the verify report formats.
 *
 * @packageDocumentation
 */
export {
  verifyRelease,
  VERIFY_SCHEMA,
  type BuildFailure,
  type VariationCheck,
  type VerifyOptions,
  type VerifyProgress,
  type VerifyResult,
} from '../verify/verify.js';
export { VARIATIONS, variationNamed, type Variation } from '../verify/conditions.js';
export type { EnvironmentSetting } from '../verify/settings.js';
export { verifyReport, type VerifyReport } from '../verify/report.js';
export { verifyText } from '../report/verify-text.js';
export { verifyHtml } from '../report/verify-html.js';
export { verifyMarkdown } from '../report/verify-markdown.js';
export { verifyJunit } from '../report/verify-junit.js';
