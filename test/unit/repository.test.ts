// The repository stands alone: the design is in docs/, the manifests apply with kustomize and
// their image is set through the kustomization.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../..');
const read = (p: string) => readFileSync(join(ROOT, p), 'utf8');

describe('the repository stands alone', () => {
  it('the README links docs/, not a file outside the repository', () => {
    const readme = read('README.md');
    // The design is in the repository; ../shared holds only the vendored OpenShift sources the build reads.
    expect(readme).not.toMatch(/\.\.\/shared\/(DESIGN|notes)/);
    expect(readme).toContain('docs/design.md');
    expect(readme).toContain('oc apply -k manifests/');
    expect(readme).toContain('hack/build-image.sh');
    expect(read('docs/design.md')).toContain('](handoff.md)');
    for (const section of ['## What it is', '## Objects', '## The reconcile loop', '## Build identity', '## The rendered-config image', '## The Dockerfile', '## Checks', '## Status', '## Running it']) {
      expect(read('docs/design.md')).toContain(section);
    }
  });

  it('manifests/kustomization.yaml lists every manifest and maps the Deployment image name', () => {
    const k = yaml.load(read('manifests/kustomization.yaml')) as { resources: string[]; images: { name: string; newName: string; newTag: string }[] };
    const files = readdirSync(join(ROOT, 'manifests')).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
    expect([...k.resources].sort()).toEqual(files.sort());
    for (const r of k.resources) expect(existsSync(join(ROOT, 'manifests', r))).toBe(true);
    const deployment = yaml.loadAll(read('manifests/04-deployment.yaml')).find((d) => (d as { kind?: string }).kind === 'Deployment') as {
      spec: { template: { spec: { containers: { image: string }[] } } };
    };
    const image = deployment.spec.template.spec.containers[0]!.image;
    expect(k.images.map((i) => i.name)).toContain(image);
    expect(k.images[0]).toMatchObject({ name: 'layered-build-controller', newName: 'localhost/layered-build-controller', newTag: 'dev' });
    const mon = yaml.load(read('manifests/monitoring/kustomization.yaml')) as { resources: string[] };
    expect(mon.resources).toEqual(readdirSync(join(ROOT, 'manifests/monitoring')).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml'));
  });
});
