import type { MemberPair, Pairing } from './pairing.js';
import type { ArchiveScan, MemberRecord } from './read/archive.js';

/**
 * docker-archive (`docker save`: manifest.json) and OCI image layout (oci-layout, index.json) tarballs name
 * their blobs by digest, so a changed layer has another name on each side. Read from the manifests, the config
 * and each layer pair by their position instead (in an image index, each platform's by its platform), and the
 * layer pair is then compared as a tar: a change reads image → platform → layer → file.
 */
export interface ImagePairing {
  format: string;
  pairs: MemberPair[];
}

function json(scan: ArchiveScan, name: string): unknown {
  const body = scan.small.get(name);
  if (!body) return undefined;
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}

function blobName(digest: unknown): string | undefined {
  const m = typeof digest === 'string' ? /^([a-z0-9]+):([0-9a-f]+)$/.exec(digest) : null;
  return m ? `blobs/${m[1]}/${m[2]}` : undefined;
}

/** `linux/arm/v7`, as docker and skopeo write a platform; undefined without architecture and os. */
function platformName(p: unknown): string | undefined {
  const { os, architecture, variant } = (p ?? {}) as { os?: unknown; architecture?: unknown; variant?: unknown };
  if (typeof os !== 'string' || typeof architecture !== 'string') return undefined;
  return `${os}/${architecture}${typeof variant === 'string' && variant ? `/${variant}` : ''}`;
}

const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
const records = (v: unknown): Record<string, unknown>[] => (Array.isArray(v) ? v.filter((x): x is Record<string, unknown> => !!x && typeof x === 'object') : []);

/** Member names in role order (config, layer 1, …) per image, from manifest.json and from index.json's manifests. */
function roles(scan: ArchiveScan): { format: string[]; names: [string, string][] } {
  const names: [string, string][] = [];
  const format: string[] = [];
  const docker = records(json(scan, 'manifest.json'));
  if (docker.length) format.push('docker-archive (manifest.json)');
  docker.forEach((m, i) => {
    const tag = docker.length > 1 ? `image ${i + 1}: ` : '';
    if (typeof m['Config'] === 'string') names.push([`${tag}config`, m['Config']]);
    const layers = strings(m['Layers']);
    layers.forEach((l, j) => names.push([`${tag}layer ${j + 1} of ${layers.length}`, l]));
  });
  const index = json(scan, 'index.json') as { manifests?: unknown } | undefined;
  const manifests = records(index?.manifests);
  if (manifests.length && scan.small.has('oci-layout')) format.push('OCI layout (index.json)');
  /** An image manifest's own role, then its config's and its layers'. */
  const manifest = (tag: string, d: Record<string, unknown>): void => {
    const name = blobName(d['digest']);
    if (!name) return;
    names.push([tag, name]);
    const m = json(scan, name) as { config?: { digest?: unknown }; layers?: unknown } | undefined;
    const config = blobName(m?.config?.digest);
    if (config) names.push([`${tag}: config`, config]);
    const layers = records(m?.layers);
    layers.forEach((l, j) => {
      const layer = blobName(l['digest']);
      if (layer) names.push([`${tag}: layer ${j + 1} of ${layers.length}`, layer]);
    });
  };
  manifests.forEach((d, i) => {
    const tag = manifests.length > 1 ? `OCI manifest ${i + 1}` : 'OCI manifest';
    const name = blobName(d['digest']);
    const nested = name === undefined ? undefined : (json(scan, name) as { manifests?: unknown } | undefined);
    if (!name || !Array.isArray(nested?.manifests)) return manifest(tag, d);
    // An image index (a multi-platform image): its manifests are paired by platform, not by place or digest.
    const tagIndex = manifests.length > 1 ? `image index ${i + 1}` : 'image index';
    const layout = format.indexOf('OCI layout (index.json)');
    if (layout >= 0) format[layout] = 'multi-platform OCI layout (index.json → image index)';
    names.push([tagIndex, name]);
    records(nested.manifests).forEach((m, j) => manifest(`${tagIndex}: ${platformName(m['platform']) ?? `manifest ${j + 1}`}`, m));
  });
  return { format, names };
}

/**
 * Pairs for two image tarballs (undefined when either is not one), among the members that found no partner by
 * name; each blob is paired once, by its first role.
 */
export function imagePairs(l: ArchiveScan, r: ArchiveScan, pairing: Pairing): ImagePairing | undefined {
  const a = roles(l);
  const b = roles(r);
  if (!a.format.length || !b.format.length) return undefined;
  const byName = (members: MemberRecord[]) => new Map(members.map((m): [string, MemberRecord] => [m.name.replace(/^\.\//, ''), m]));
  const ml = byName(pairing.leftOnly);
  const mr = byName(pairing.rightOnly);
  const right = new Map(b.names);
  const used = new Set<MemberRecord>();
  const pairs: MemberPair[] = [];
  for (const [role, name] of a.names) {
    const x = ml.get(name);
    const other = right.get(role);
    const y = other === undefined ? undefined : mr.get(other);
    if (!x || !y || used.has(x) || used.has(y)) continue;
    used.add(x);
    used.add(y);
    pairs.push({ left: x, right: y, how: { comment: `${role}, paired by its role in the image manifests (blobs are named by digest)` } });
  }
  return { format: [...new Set([...a.format, ...b.format])].join(' + '), pairs };
}
