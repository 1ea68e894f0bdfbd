/**
 * Building a release and following its recipe again: `krepro release` and `krepro rebuild`, the project file, the
 * inputs every build of a release shares, and the provenance a release records.
 *
 * @packageDocumentation
 */
export { runRelease, writeProvenance, type ReleaseOptions, type ReleaseResult } from '../release/run-release.js';
export { releaseFromBinaries, type ImageBaseFile, type Packed, type ReleaseFromBinariesOptions } from '../release/from-binaries.js';
export { rebuildRelease, type RebuildOptions, type RebuildResult, type RebuiltArtifact } from '../rebuild/rebuild.js';
export { readProvenance, recipeStatement, PROVENANCE_FILE, RECIPE_BUILD_TYPE, type ProvenanceSource, type Recipe, type RecipeContainer, type RecipePredicate } from '../provenance/recipe.js';
export { loadProject, loadCommittedProject, parseProject, KUBERNETES_DEFAULTS, NORMALIZATIONS, PROJECT_FILE, PROJECT_SCHEMA, type ImageSettings, type Project } from '../project/project.js';
export { buildVariables, type BuildVariablesOptions } from '../project/variables.js';
export { releaseInputs, packagingFor, type Packaging, type ReleaseInputs, type ReleaseInputsOptions } from '../project/inputs.js';
export type { StepEvent, StepRecord } from '../pipeline/pipeline.js';
export { gitVersion, semverFromDescribe } from '../source/version.js';
