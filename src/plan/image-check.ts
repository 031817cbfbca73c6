// What the planner asks the I/O layer to verify about an image before the
// hand-off, and what the I/O layer reports back. Pure data and its key.
import { canonicalJson, sha256Hex } from '../util/canonical-json.ts';
import type { ExpectedFile } from './ignition-files.ts';

export interface ImageCheckRequest {
  /** Identifies the check: the image digest plus everything the check compares against. */
  key: string;
  /** `<registry>/<ns>/<stream>@sha256:...` */
  image: string;
  digest: string;
  /** The base the build started from (`repo@sha256:...`): its layers are not searched for the files. */
  base?: string | undefined;
  files: ExpectedFile[];
  maxImageSize: number;
}

export type ImageCheckOutcome =
  | { result: 'passed'; sizeBytes: number; addedLayers: number; files: number }
  /** The image is not fit to hand off; remembered until the digest (or what it is checked against) changes. */
  | { result: 'failed'; message: string }
  /** The check could not be made (registry unreachable, refused credentials): not remembered, retried. */
  | { result: 'error'; message: string };

/** The key of a check: a digest is checked once per set of expected files, base and size budget. */
export function imageCheckKey(req: Omit<ImageCheckRequest, 'key'>): string {
  return `${req.digest}/${sha256Hex(
    canonicalJson({
      base: req.base ?? '',
      maxImageSize: req.maxImageSize,
      files: req.files.map((f) => ({ path: f.path, mode: f.mode, contents: f.contents === undefined ? null : sha256Hex(f.contents) })),
    }),
  ).slice(0, 32)}`;
}
