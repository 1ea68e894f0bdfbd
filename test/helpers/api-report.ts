// The API reports (docs/api/*.api.md): @microsoft/api-extractor's summary of each entry point's public surface,
// made from the built declarations (npm run build first). `npm run api-report` rewrites them; api.test.ts fails when
// one differs from what the code exports, so a change to the surface changes its report in the same commit.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CompilerState, Extractor, ExtractorConfig, type ExtractorMessage } from '@microsoft/api-extractor';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const REPORT_DIR = path.join(ROOT, 'docs', 'api');

/** Every entry point of package.json's exports but package.json and the schemas: `.` is the root. */
export function entryPoints(): { subpath: string; types: string; report: string }[] {
  const manifest = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { exports: Record<string, string | { types?: string }> };
  return Object.entries(manifest.exports)
    .filter((e): e is [string, { types: string }] => typeof e[1] === 'object' && typeof e[1].types === 'string')
    .map(([subpath, target]) => ({
      subpath,
      types: path.join(ROOT, target.types),
      report: subpath === '.' ? 'krepro.api.md' : `krepro-${subpath.slice(2).replaceAll('/', '-')}.api.md`,
    }));
}

export interface ReportOutcome {
  subpath: string;
  report: string;
  /** the report file matches the surface (or, when updating, was written) */
  current: boolean;
  /** api-extractor's findings: an export whose type is not exported, a public item without documentation… */
  problems: string[];
}

/** Runs api-extractor on every entry point: compares each report with the surface, or rewrites it with `update`. */
export function apiReports(opts: { update?: boolean } = {}): ReportOutcome[] {
  const temp = mkdtempSync(path.join(tmpdir(), 'krepro-api-'));
  const entries = entryPoints();
  let compilerState: CompilerState | undefined; // one TypeScript program for every entry point
  try {
    return entries.map((entry) => {
      const problems: string[] = [];
      const config = ExtractorConfig.prepare({
        configObjectFullPath: undefined,
        packageJsonFullPath: path.join(ROOT, 'package.json'),
        configObject: {
          projectFolder: ROOT,
          mainEntryPointFilePath: entry.types,
          compiler: {
            overrideTsconfig: {
              compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, types: ['node'], lib: ['ES2023'] },
              files: entries.map((e) => e.types),
            },
          },
          apiReport: { enabled: true, reportFolder: REPORT_DIR, reportTempFolder: temp, reportFileName: entry.report.replace(/\.api\.md$/, '') },
          docModel: { enabled: false },
          dtsRollup: { enabled: false },
          tsdocMetadata: { enabled: false },
          newlineKind: 'lf',
          messages: {
            compilerMessageReporting: { default: { logLevel: 'warning' as never } },
            extractorMessageReporting: {
              default: { logLevel: 'warning' as never },
              // krepro marks no release stages: everything an entry point exports is public.
              'ae-missing-release-tag': { logLevel: 'none' as never },
              'ae-undocumented': { logLevel: 'warning' as never, addToApiReportFile: false },
              'ae-forgotten-export': { logLevel: 'warning' as never, addToApiReportFile: false },
            },
            // Doc comments are read by people and editors, not parsed as TSDoc: its syntax rules (escaping `>`, `{`) are not ours.
            tsdocMessageReporting: { default: { logLevel: 'none' as never } },
          },
        },
      });
      compilerState ??= CompilerState.create(config, { additionalEntryPoints: entries.map((e) => e.types) });
      const result = Extractor.invoke(config, {
        compilerState,
        localBuild: opts.update ?? false,
        messageCallback: (message: ExtractorMessage) => {
          if (message.logLevel === 'warning' || message.logLevel === 'error') {
            if (!String(message.messageId).startsWith('console-api-report-')) {
              const where = message.sourceFilePath ? ` (${path.relative(ROOT, message.sourceFilePath)}:${message.sourceFileLine ?? 0})` : '';
              problems.push(`${message.messageId}: ${message.text}${where}`);
            }
          }
          message.handled = true;
        },
      });
      return { subpath: entry.subpath, report: entry.report, current: opts.update ? true : !result.apiReportChanged, problems };
    });
  } finally {
    rmSync(temp, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && import.meta.url === new URL(`file://${path.resolve(process.argv[1])}`).href) {
  let failed = false;
  for (const o of apiReports({ update: process.argv.includes('--update') })) {
    console.log(`${o.subpath}: docs/api/${o.report}${o.current ? '' : ' differs from the surface'}`);
    for (const p of o.problems) console.log(`  ${p}`);
    failed ||= !o.current || o.problems.length > 0;
  }
  process.exitCode = failed ? 1 : 0;
}
