/**
 * Container images written without a daemon: docker-archive/OCI images of binaries, Kubernetes' server images, and
 * multi-platform image indexes.
 *
 * @packageDocumentation
 */
export { writeImage, type ImageBase, type WriteImageOptions, type WrittenImage } from '../image/write-image.js';
export { writeServerImages, imageBaseFrom, DEFAULT_IMAGE_BINARIES, DEFAULT_IMAGE_REGISTRY, type ServerImage, type ServerImagesOptions } from '../image/server-images.js';
export { readImageBase, type ImageBaseArchive } from '../image/base.js';
export {
  writeImageIndex,
  stagedImageSets,
  IMAGE_INDEX_SUFFIX,
  CREATED_ANNOTATION,
  type ImageIndexOptions,
  type IndexedImage,
  type Platform,
  type StagedImageSet,
  type WrittenImageIndex,
} from '../image/image-index.js';
export type { Artifact } from '../integrity/artifact.js';
export type { Digests } from '../integrity/hash-stream.js';
export type { WrittenFile } from '../archive/pack.js';
export { parseRepoTag, dockerTagFromVersion, type RepoTag } from '../image/reference.js';
