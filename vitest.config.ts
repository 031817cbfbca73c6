import { defineConfig } from 'vitest/config';

// Six projects: `unit` needs nothing but Node; `integration` needs the real
// registry / API server (it brings the local control plane up itself unless
// KUBECONFIG is given); `e2e` runs the operator end to end on the real OpenShift
// components, two scenarios at a time; `chaos-operator` the chaos scenarios that
// kill only the operator's processes, beside them; `e2e-exclusive` the scenario
// that moves the one node, with nothing else running; `chaos` kills and pauses
// the cluster's components (the local control plane only).
//
// Order: `sequence.groupOrder` runs the groups one after the other, lowest
// first (integration 1; e2e and chaos-operator 2, sharing two workers;
// e2e-exclusive 3; chaos 4), so chaos never runs while another project uses the
// components it kills. (A project with fileParallelism false left at groupOrder 0 would be put
// in a group vitest runs after all numbered ones, i.e. after chaos: every
// cluster project needs its number.)

/**
 * Scenarios that change what the others share: S15 moves the one node into its
 * pool and waits for it to come back to the worker's rendering, which must not
 * move meanwhile (S31 changes the cluster's global pull secret, which MCC
 * renders into the worker configs: it runs in `e2e`, never beside S15).
 */
const E2E_EXCLUSIVE = ['test/e2e/s15-first-setup-node.test.ts'];
/** Chaos scenarios that kill and pause only the operator processes they start, not the cluster's components. */
const CHAOS_OPERATOR = ['test/chaos/c01-operator-kills.test.ts', 'test/chaos/c02-leader-killed.test.ts'];
/**
 * Files at a time in `integration` and `e2e` (LBC_TEST_WORKERS=1: one after the other). Two on the
 * 2-core machines this runs on: a scenario spends most of its time waiting on the cluster (builds,
 * MCC renderings, backoffs); measured, e2e took 994 s with two against 1,499 s with one.
 */
const CLUSTER_WORKERS = Math.max(1, Number(process.env.LBC_TEST_WORKERS ?? 2) || 1);

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
          // Two files at a time: each works in a namespace (or registry) of its own.
          maxWorkers: CLUSTER_WORKERS,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          exclude: E2E_EXCLUSIVE,
          environment: 'node',
          sequence: { groupOrder: 2 },
          globalSetup: ['test/harness/global-setup.ts'],
          testTimeout: 600_000,
          hookTimeout: 1_800_000,
          // Two scenarios at a time: each spends most of its time waiting on the cluster (builds,
          // MCC renderings, backoffs), and each has its own namespace, pool, label and operator.
          maxWorkers: CLUSTER_WORKERS,
        },
      },
      {
        test: {
          name: 'e2e-exclusive',
          include: E2E_EXCLUSIVE,
          environment: 'node',
          sequence: { groupOrder: 3 },
          globalSetup: ['test/harness/global-setup.ts'],
          testTimeout: 600_000,
          hookTimeout: 1_800_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          // The chaos scenarios that kill only the operator's own processes: beside the e2e ones.
          name: 'chaos-operator',
          include: CHAOS_OPERATOR,
          environment: 'node',
          globalSetup: ['test/harness/global-setup.ts'],
          sequence: { groupOrder: 2 },
          testTimeout: 600_000,
          hookTimeout: 1_800_000,
          maxWorkers: CLUSTER_WORKERS,
        },
      },
      {
        test: {
          name: 'chaos',
          include: ['test/chaos/**/*.test.ts'],
          exclude: CHAOS_OPERATOR,
          environment: 'node',
          globalSetup: ['test/harness/global-setup.ts'],
          sequence: { groupOrder: 4 },
          testTimeout: 600_000,
          hookTimeout: 1_800_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
