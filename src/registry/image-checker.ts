// The checks before the hand-off (DESIGN.md "Before the hand-off"), against
// the registry: the manifest at the digest exists and is complete (every blob
// present), its config carries what a node's importer checks before it
// deploys an image (bootable, ostree.final-diffid among the diff_ids, the
// base's architecture), the image is within the size budget, and the layers
// the build added above the base contain every file of the MachineConfig with
// its content and mode. Runs in the I/O layer; its outcome goes into the snapshot.
import { z } from 'zod';
import type { ImageCheckOutcome, ImageCheckRequest } from '../plan/image-check.ts';
import { RegistryError } from './client.ts';
import { LayerFormatError, layerTar, normalizePath, linksOf, resolveParents, stackLayers } from './layer-files.ts';
import type { ImageManifest, ImageSource } from './reader.ts';

/** Largest single added layer the check downloads (it is held in memory). */
export const MAX_CHECKED_LAYER_BYTES = 2 * 1024 ** 3;

const fail = (message: string): ImageCheckOutcome => ({ result: 'failed', message });

/** The parts of an OCI/Docker image config the importer reads. */
const ImageConfigSchema = z.object({
  architecture: z.string().optional(),
  config: z.object({ Labels: z.record(z.string(), z.string()).nullish() }).nullish(),
  rootfs: z.object({ diff_ids: z.array(z.string()).nullish() }).nullish(),
});
type ImageConfig = z.infer<typeof ImageConfigSchema>;

/** The labels a node's importer (ostree-ext, what `rpm-ostree rebase` and bootc run) reads on an image config. */
const LABEL_OSTREE_BOOTABLE = 'ostree.bootable';
const LABEL_BOOTC = 'containers.bootc';
const LABEL_FINAL_DIFFID = 'ostree.final-diffid';

/**
 * What a node's importer refuses: an image that is not bootable (neither
 * ostree.bootable=true nor containers.bootc=1), that has no ostree.final-diffid
 * among its diff_ids (the importer cannot tell the ostree base layers from the
 * derived ones), or whose architecture is not the base's (the pool's nodes run
 * the base). Undefined when the node would take it.
 */
function importerProblem(config: ImageConfig, baseArchitecture: string | undefined): string | undefined {
  const labels = config.config?.Labels ?? {};
  const fromBase = 'build it FROM the pool\'s base (or an image derived from it)';
  if (labels[LABEL_OSTREE_BOOTABLE] !== 'true' && labels[LABEL_BOOTC] !== '1') {
    return `the image is not bootable: its config has neither the label ${LABEL_OSTREE_BOOTABLE}=true nor ${LABEL_BOOTC}=1, which a node's importer requires; ${fromBase}`;
  }
  const final = labels[LABEL_FINAL_DIFFID];
  if (!final) return `the image config has no label ${LABEL_FINAL_DIFFID}, which a node's importer requires to find the ostree base layers; ${fromBase}`;
  if (!(config.rootfs?.diff_ids ?? []).includes(final)) {
    return `the image's label ${LABEL_FINAL_DIFFID}=${final} is not among its rootfs.diff_ids, so a node's importer cannot find the ostree base layers; ${fromBase}`;
  }
  if (baseArchitecture && config.architecture !== baseArchitecture) {
    return `the image is for architecture ${config.architecture ?? '(none)'}, the pool's base (which its nodes run) is ${baseArchitecture}`;
  }
  return undefined;
}

async function readConfig(src: ImageSource, image: string, digest: string): Promise<ImageConfig | string> {
  let json: unknown;
  try {
    json = JSON.parse((await src.blob(image, digest)).toString('utf8'));
  } catch (e) {
    if (e instanceof RegistryError) throw e;
    return `its config ${digest} is not JSON`;
  }
  const r = ImageConfigSchema.safeParse(json);
  return r.success ? r.data : `its config ${digest} is not an image config (${r.error.issues[0]?.path.join('.')}: ${r.error.issues[0]?.message})`;
}

export async function checkImage(req: ImageCheckRequest, src: ImageSource, opts: { maxLayerBytes?: number } = {}): Promise<ImageCheckOutcome> {
  const maxLayer = opts.maxLayerBytes ?? MAX_CHECKED_LAYER_BYTES;
  try {
    // 1. The manifest exists, and every blob it names is there.
    let manifest;
    try {
      manifest = await src.manifest(req.image);
    } catch (e) {
      if (e instanceof RegistryError && e.reason === 'NotFound') return fail(`the registry has no manifest for ${req.image}`);
      throw e;
    }
    const blobs = [{ what: 'config', ...manifest.config }, ...manifest.layers.map((l, i) => ({ what: `layer ${i + 1}/${manifest.layers.length}`, ...l }))];
    for (const b of blobs) {
      if (!(await src.blobExists(req.image, b.digest))) return fail(`the manifest is incomplete: its ${b.what} ${b.digest} is missing from the registry`);
    }
    // 2. What a node's importer checks, on the image config (the base's architecture when the base is known).
    const config = await readConfig(src, req.image, manifest.config.digest);
    if (typeof config === 'string') return fail(config);
    let baseArchitecture: string | undefined;
    let baseManifest;
    if (req.base) {
      try {
        baseManifest = await src.manifest(req.base);
      } catch (e) {
        if (e instanceof RegistryError && e.reason === 'NotFound') return fail(`the base image ${req.base} is not in the registry, so the layers the build added cannot be told apart`);
        throw e;
      }
      const bc = await readConfig(src, req.base, baseManifest.config.digest);
      if (typeof bc === 'string') return fail(`the base image ${req.base}: ${bc}`);
      baseArchitecture = bc.architecture;
    }
    const refused = importerProblem(config, baseArchitecture);
    if (refused) return fail(refused);
    // 3. The size budget.
    const size = manifest.config.size + manifest.layers.reduce((n, l) => n + l.size, 0);
    if (size > req.maxImageSize) return fail(`the image is ${size} bytes (layers + config), above the limit --max-image-size ${req.maxImageSize}`);
    // 4. The layers the build added above the base hold the MachineConfig's files.
    const baseLayers = new Set((baseManifest?.layers ?? []).map((l) => l.digest));
    const added = manifest.layers.filter((l) => !baseLayers.has(l.digest));
    if (req.files.length === 0) return { result: 'passed', sizeBytes: size, addedLayers: added.length, files: 0 };
    if (added.length === 0) return fail(`the image adds no layer above its base ${req.base ?? ''}, so it cannot hold the MachineConfig's ${req.files.length} files`);
    const tars: Buffer[] = [];
    for (const l of added) {
      const tar = await readLayer(src, req.image, l, maxLayer, 'layer');
      if (typeof tar === 'string') return fail(tar);
      tars.push(tar);
    }
    const wanted = new Set(req.files.map((f) => normalizePath(f.path)));
    let stacked: ReturnType<typeof stackLayers>;
    // A file written through a symlinked parent directory is where the link leads (an ostree-native
    // base has usr/local -> ../var/usrlocal, home -> var/home, ...: MCO's own /usr/local/bin files land
    // in var/usrlocal/bin). The base's symlinks are read only when a file is not at its own path.
    const where = new Map<string, string>();
    try {
      stacked = stackLayers(tars, wanted);
      const missing = [...wanted].filter((p) => !stacked.files.has(p));
      if (missing.length > 0) {
        const baseLinks = req.base && baseManifest ? await baseSymlinks(src, req.base, baseManifest, maxLayer) : new Map<string, string>();
        if (typeof baseLinks === 'string') return fail(baseLinks);
        const current = stacked;
        const linkOf = (q: string) => {
          const e = current.files.get(q);
          if (e?.type === 'hardlink' && e.link) return current.files.get(e.link)?.target ?? baseLinks.get(e.link);
          if (e) return e.type === 'symlink' ? e.target : undefined;
          return current.whiteouts.has(q) ? undefined : baseLinks.get(q);
        };
        for (const p of missing) {
          const r = resolveParents(p, linkOf);
          if (r !== undefined && r !== p) where.set(p, r);
        }
        if (where.size > 0) stacked = stackLayers(tars, new Set([...wanted, ...where.values()]));
      }
    } catch (e) {
      if (e instanceof LayerFormatError) return fail(`a layer the build added is not a valid tar: ${e.message}`);
      throw e;
    }
    for (const f of req.files) {
      const p = normalizePath(f.path);
      const at = where.get(p) ?? p;
      let entry = stacked.files.get(at);
      if (!entry) {
        const by = stacked.whiteouts.get(at);
        const via = at === p ? '' : ` (at /${at}, where the base's symlinks lead)`;
        return fail(
          by !== undefined
            ? `file ${f.path} of the MachineConfig${via} is deleted (whiteout) by layer ${added[by]!.digest}`
            : `file ${f.path} of the MachineConfig${via} is not in the ${added.length} layer(s) the build added above the base`,
        );
      }
      if (entry.type === 'hardlink' && entry.link) entry = { ...(stacked.files.get(entry.link) ?? entry), mode: entry.mode };
      if (entry.type !== 'file' && entry.type !== 'hardlink') return fail(`file ${f.path} of the MachineConfig is a ${entry.type} in the image, not a regular file`);
      if ((entry.mode & 0o7777) !== f.mode) {
        return fail(`file ${f.path} has mode ${(entry.mode & 0o7777).toString(8).padStart(4, '0')} in the image, the MachineConfig says ${f.mode.toString(8).padStart(4, '0')}`);
      }
      if (f.contents !== undefined && entry.contents !== undefined && !entry.contents.equals(f.contents)) {
        return fail(`file ${f.path} differs from the MachineConfig's content (${entry.contents.length} bytes in the image, ${f.contents.length} in the MachineConfig)`);
      }
    }
    return { result: 'passed', sizeBytes: size, addedLayers: added.length, files: req.files.length };
  } catch (e) {
    if (e instanceof RegistryError) return { result: 'error', message: e.message };
    throw e;
  }
}

/** A layer blob as a tar (gunzipped), or why the check cannot read it. A registry failure is thrown. */
async function readLayer(src: ImageSource, ref: string, l: { digest: string; size: number }, maxLayer: number, what: 'layer' | 'base layer'): Promise<Buffer | string> {
  if (l.size > maxLayer) return `${what} ${l.digest} is ${l.size} bytes, more than the ${maxLayer} bytes the check reads`;
  try {
    return layerTar(await src.blob(ref, l.digest));
  } catch (e) {
    if (e instanceof LayerFormatError) return `${what} ${l.digest}: ${e.message}`;
    if (e instanceof Error && !(e instanceof RegistryError)) return `${what} ${l.digest} is not a readable tar or gzip'd tar (${e.message})`;
    throw e;
  }
}

/** Symlinks of the bases checked against, by base reference (a base's layers are read once per process). */
const BASE_SYMLINKS = new Map<string, Map<string, string>>();
const BASE_SYMLINKS_MAX = 8;

/** The symlinks of every layer of the base (later layers win), or a failure message. */
async function baseSymlinks(src: ImageSource, base: string, m: ImageManifest, maxLayer: number): Promise<Map<string, string> | string> {
  const cached = BASE_SYMLINKS.get(base);
  if (cached) return cached;
  const all = { symlinks: new Map<string, string>(), hardlinks: new Map<string, string>() };
  for (const l of m.layers) {
    const tar = await readLayer(src, base, l, maxLayer, 'base layer');
    if (typeof tar === 'string') return tar;
    try {
      linksOf(tar, all);
    } catch (e) {
      if (e instanceof LayerFormatError) return `base layer ${l.digest}: ${e.message}`;
      if (e instanceof Error) return `base layer ${l.digest} is not a readable tar or gzip'd tar (${e.message})`;
      throw e;
    }
  }
  // A hard link to a symlink is that symlink.
  const links = new Map(all.symlinks);
  for (const [p, to] of all.hardlinks) {
    const t = all.symlinks.get(to);
    if (t !== undefined) links.set(p, t);
  }
  BASE_SYMLINKS.set(base, links);
  if (BASE_SYMLINKS.size > BASE_SYMLINKS_MAX) BASE_SYMLINKS.delete(BASE_SYMLINKS.keys().next().value!);
  return links;
}

/** Outcomes of checks by key: a digest is checked once; a failure is remembered until the digest (or what it is checked against) changes. */
export class ImageCheckCache {
  readonly #m = new Map<string, ImageCheckOutcome>();
  readonly #max: number;
  constructor(max = 512) {
    this.#max = max;
  }
  get(key: string): ImageCheckOutcome | undefined {
    return this.#m.get(key);
  }
  has(key: string): boolean {
    return this.#m.has(key);
  }
  /** Remembers a passed or failed outcome; an `error` (the check could not be made) is not remembered. */
  set(key: string, o: ImageCheckOutcome): void {
    if (o.result === 'error') return;
    this.#m.delete(key);
    this.#m.set(key, o);
    if (this.#m.size > this.#max) this.#m.delete(this.#m.keys().next().value!);
  }
  /** The outcomes as the planner reads them, plus `extra` (this reconcile's unremembered ones). */
  view(extra?: ReadonlyMap<string, ImageCheckOutcome>): ReadonlyMap<string, ImageCheckOutcome> {
    return extra?.size ? new Map([...this.#m, ...extra]) : this.#m;
  }
}
