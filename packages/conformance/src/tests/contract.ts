import { CAPABILITY_IDS, type CapabilityId, InvalidSpecError, type VmSpecInput } from '@hvkit/core';
import { expect } from 'vitest';
import { explain, type SuiteContext } from '../context.js';
import { expectInvalidSpec, rejectionOf } from '../helpers.js';

/** A test every provider runs, whatever it declares. */
export interface ContractTest {
  readonly title: string;
  readonly run: (ctx: SuiteContext) => Promise<void>;
}

const validSpec = (): VmSpecInput => ({
  name: 'hvkit-conformance-invalid',
  cpu: { count: 2 },
  memory: { sizeMiB: 128 },
});

/** Invalid specs and the path each must be reported at. */
const INVALID_SPECS: readonly { title: string; spec: VmSpecInput; paths: string[] }[] = [
  { title: 'cpu.count 0', spec: { ...validSpec(), cpu: { count: 0 } }, paths: ['cpu.count'] },
  {
    title: 'cpu.coresPerSocket not dividing the count',
    spec: { ...validSpec(), cpu: { count: 4, coresPerSocket: 3 } },
    paths: ['cpu.coresPerSocket'],
  },
  {
    title: 'memory below 4 MiB',
    spec: { ...validSpec(), memory: { sizeMiB: 1 } },
    paths: ['memory.sizeMiB'],
  },
  {
    title: 'a negative disk size',
    spec: { ...validSpec(), disks: [{ sizeGiB: -1 }] },
    paths: ['disks[0].sizeGiB'],
  },
  {
    title: 'a malformed MAC',
    spec: { ...validSpec(), nics: [{ network: 'x', mac: '52:54:00:zz:00:01' }] },
    paths: ['nics[0].mac'],
  },
  { title: 'an empty name', spec: { ...validSpec(), name: '' }, paths: ['name'] },
  {
    title: 'several faults at once',
    spec: {
      ...validSpec(),
      cpu: { count: 0 },
      disks: [{ sizeGiB: 1 }, { sizeGiB: -1 }],
    },
    paths: ['cpu.count', 'disks[1].sizeGiB'],
  },
];

/** Asserts the I/O probe (if any) did not move while `work` ran. */
export async function withoutIo<T>(ctx: SuiteContext, work: () => Promise<T>): Promise<T> {
  const before = ctx.io();
  const result = await work();
  if (before !== undefined) {
    expect(ctx.io(), 'the backend must not be called').toBe(before);
  }
  return result;
}

function aborted(): AbortSignal {
  const controller = new AbortController();
  controller.abort();
  return controller.signal;
}

function expectAbortError(error: unknown): void {
  expect((error as { name?: unknown } | null)?.name, explain(error)).toBe('AbortError');
}

export const contractTests: readonly ContractTest[] = [
  {
    title: 'validate() reports the provider, its type and the backend version',
    run: async (ctx) => {
      const report = await ctx.provider.validate();
      expect(report.provider).toBe(ctx.provider.name);
      expect(report.type).toBe(ctx.provider.type);
      expect(typeof report.version).toBe('string');
      expect(report.version.length).toBeGreaterThan(0);
      expect(Array.isArray(report.warnings)).toBe(true);
    },
  },
  {
    title: 'every catalog capability is declared and partial ones carry a note',
    run: async (ctx) => {
      for (const id of CAPABILITY_IDS) {
        const status = ctx.provider.capabilities[id as CapabilityId];
        expect(status, `${id} is not declared`).toBeDefined();
        expect(['supported', 'partial', 'unsupported', 'not-applicable']).toContain(status.level);
        if (status.level === 'partial') expect(status.note?.length, id).toBeGreaterThan(0);
      }
    },
  },
  ...INVALID_SPECS.map(
    ({ title, spec, paths }): ContractTest => ({
      title: `an invalid spec (${title}) is InvalidSpecError naming ${paths.join(', ')} before any I/O`,
      run: async (ctx) => {
        await withoutIo(ctx, async () => {
          const error = await rejectionOf(() => ctx.provider.create(spec));
          expect(InvalidSpecError.isInstance(error), explain(error)).toBe(true);
          const issues = (error as InvalidSpecError).issues.map((issue) => issue.path);
          for (const path of paths) expect(issues).toContain(path);
        });
      },
    }),
  ),
  {
    title: "a ref of another provider is InvalidSpecError at 'provider' before any I/O",
    run: async (ctx) => {
      const foreign = { provider: `${ctx.provider.name}-elsewhere`, id: 'vm-1' };
      await withoutIo(ctx, async () => {
        await expectInvalidSpec(() => ctx.provider.delete(foreign), 'provider');
        await expectInvalidSpec(() => ctx.provider.powerOn(foreign), 'provider');
        await expectInvalidSpec(() => ctx.provider.can(foreign, 'core.powerOn'), 'provider');
      });
    },
  },
  {
    title: 'an invalid idempotency key is InvalidSpecError before any I/O',
    run: async (ctx) => {
      await withoutIo(ctx, async () => {
        const error = await rejectionOf(() =>
          ctx.provider.create(validSpec(), { idempotencyKey: 'has spaces in it' }),
        );
        expect(InvalidSpecError.isInstance(error), explain(error)).toBe(true);
      });
    },
  },
  {
    title: 'can() of an unknown capability is InvalidSpecError',
    run: async (ctx) => {
      await withoutIo(ctx, async () => {
        const error = await rejectionOf(() =>
          ctx.provider.can(ctx.missingRef, 'core.teleport' as CapabilityId),
        );
        expect(InvalidSpecError.isInstance(error), explain(error)).toBe(true);
      });
    },
  },
  {
    title: 'an already-aborted signal rejects with AbortError before any I/O',
    run: async (ctx) => {
      await withoutIo(ctx, async () => {
        expectAbortError(await rejectionOf(() => ctx.provider.validate({ signal: aborted() })));
        expectAbortError(
          await rejectionOf(() => ctx.provider.get(ctx.missingRef, { signal: aborted() })),
        );
        expectAbortError(
          await rejectionOf(() => ctx.provider.create(validSpec(), { signal: aborted() })),
        );
        expectAbortError(
          await rejectionOf(() => ctx.provider.powerOn(ctx.missingRef, { signal: aborted() })),
        );
        expectAbortError(await rejectionOf(() => ctx.provider.listNetworks({ signal: aborted() })));
      });
    },
  },
];
