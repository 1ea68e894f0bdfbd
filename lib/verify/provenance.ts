import { simpleGit } from 'simple-git';
import { hexDigest } from '../integrity/hash-stream.js';
import { KREPRO_VERSION } from '../version.js';
import type { BuildRun } from './build-run.js';
import type { VerifyResult } from './verify.js';

export const BUILD_TYPE = 'https://krepro.dev/buildtypes/verify/v1';

function parameters(run: BuildRun) {
  return { label: run.label, engine: run.engine, variations: run.variations, conditions: run.conditions };
}

/**
 * An unsigned in-toto Statement v1 with a SLSA provenance v1 predicate for the release tarballs: subjects are the
 * tarballs (sha256), the material is the git commit, the builder is krepro with the build image's digest, and both
 * builds' parameters are recorded. No timestamps beyond SOURCE_DATE_EPOCH, so the statement is itself reproducible.
 * Proxy settings are never part of the parameters.
 */
export function provenanceStatement(result: VerifyResult, opts: { repositoryUri: string; imageIds: [string, string] }) {
  const subject = result.control.artifacts.map((a) => ({ name: a.name.replace(/^release-tars\//, ''), digest: { sha256: hexDigest(a.integrity, 'sha256') } }));
  return {
    _type: 'https://in-toto.io/Statement/v1',
    subject,
    predicateType: 'https://slsa.dev/provenance/v1',
    predicate: {
      buildDefinition: {
        buildType: BUILD_TYPE,
        externalParameters: { command: result.project.command, outputs: result.project.outputs, sourceDateEpoch: result.sourceDateEpoch, builds: result.builds.map(parameters) },
        internalParameters: { status: result.status, differing: result.differing },
        resolvedDependencies: [
          { uri: opts.repositoryUri, digest: { gitCommit: result.commit } },
          ...opts.imageIds.map((id) => ({ name: 'build-image', digest: { sha256: id.replace(/^sha256:/, '') } })),
        ],
      },
      runDetails: {
        builder: { id: 'https://krepro.dev/builder/krepro-verify', version: { krepro: KREPRO_VERSION } },
        metadata: { invocationId: `${result.commit}:${result.sourceDateEpoch}` },
      },
    },
  };
}

/** The repository's `origin` URL as an SPDX-style `git+` URI, or the local path when there is no remote. */
export async function repositoryUri(root: string): Promise<string> {
  const url = (await simpleGit({ baseDir: root }).raw(['config', '--get', 'remote.origin.url']).catch(() => '')).trim();
  return url ? `git+${url}` : `git+file://${root}`;
}
