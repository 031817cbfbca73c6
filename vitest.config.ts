import { defineConfig } from 'vitest/config';

// Four projects: `unit` needs nothing but Node; `integration` needs the real
// registry / API server (it brings the local control plane up itself unless
// KUBECONFIG is given); `e2e` runs the operator end to end on the real OpenShift
// components; `chaos` kills and pauses those components (the local control
// plane only).
//
// Order: `sequence.groupOrder` runs the groups one after the other, lowest
// first. The cluster projects get one each (integration 1, e2e 2, chaos 3), so
// chaos never runs while another project uses the components it kills. (A
// project with fileParallelism false left at groupOrder 0 would be put in a
// group vitest runs after all numbered ones, i.e. after chaos: every cluster
// project needs its number.)
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          environment: 'node',
          // A few unit tests run a program (promtool, the CLI): on a loaded 2-core
          // machine that can take longer than vitest's default 5 s.
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          environment: 'node',
          sequence: { groupOrder: 1 },
          globalSetup: ['test/harness/global-setup.ts'],
          testTimeout: 180_000,
          hookTimeout: 1_800_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          environment: 'node',
          sequence: { groupOrder: 2 },
          globalSetup: ['test/harness/global-setup.ts'],
          testTimeout: 600_000,
          hookTimeout: 1_800_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'chaos',
          include: ['test/chaos/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['test/harness/global-setup.ts'],
          sequence: { groupOrder: 3 },
          testTimeout: 600_000,
          hookTimeout: 1_800_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
