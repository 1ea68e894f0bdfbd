/**
 * Checking a release directory as a downloader would: every file against its sums, per-file sums, manifest and
 * signed subjects; and the check's reports.
 *
 * @packageDocumentation
 */
export {
  checkRelease,
  CHECK_ENTRY_LIMIT,
  CHECK_LIST_LIMIT,
  type CheckOptions,
  type CheckProgress,
  type CheckResult,
  type CheckedExpectation,
  type CheckedFile,
  type CheckedList,
} from '../check/check.js';
export type { Expectation } from '../check/lists.js';
export { checkHtml, checkMarkdown } from '../report/check.js';
export type { Trace, TraceEvent } from '../trace.js';
export type { KeyAlgorithm, KeyIdentity, VerifyingKey } from '../attest/keys.js';
export type { EnvelopeCheck, EnvelopeFailure } from '../attest/dsse.js';
