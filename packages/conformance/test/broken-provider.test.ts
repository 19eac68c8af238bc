/**
 * The suite must fail a provider that declares a capability it does not implement. Each sabotage
 * in fixtures/sabotage.ts breaks one capability of the Mock while keeping its declaration; the
 * whole suite runs against it in a child vitest process, and exactly the tests of that capability
 * that observe the lie must fail.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createProvider, declareCapabilities, type ProviderDriver } from '@hvkit/core';
import { afterAll, describe, expect, it } from 'vitest';
import { CONFORMANCE_TESTS } from '../src/index.js';
import { createMockDriver, SABOTAGES, type SabotageName } from './fixtures/sabotage.js';

const PACKAGE = fileURLToPath(new URL('..', import.meta.url));
const VITEST = path.join(PACKAGE, 'node_modules', '.bin', 'vitest');
const CONFIG = path.join(PACKAGE, 'test', 'fixtures', 'vitest.config.ts');

interface JsonReport {
  numFailedTests: number;
  numPassedTests: number;
  numPendingTests: number;
  numTodoTests: number;
  success: boolean;
  testResults: {
    status: string;
    message: string;
    assertionResults: { title: string; status: string; failureMessages: string[] }[];
  }[];
}

const scratch = await mkdtemp(path.join(tmpdir(), 'hvkit-broken-'));
afterAll(() => rm(scratch, { recursive: true, force: true }));

/** Runs the conformance suite against one broken Mock in a child vitest; returns its JSON report. */
async function runSuite(name: SabotageName | 'none'): Promise<JsonReport> {
  const outputFile = path.join(scratch, `${name}.json`);
  await new Promise<void>((resolve) => {
    execFile(
      VITEST,
      ['run', '--config', CONFIG, '--reporter=json', '--outputFile', outputFile],
      {
        cwd: PACKAGE,
        env: { ...process.env, HVKIT_SABOTAGE: name, CI: '1', NO_COLOR: '1' },
        maxBuffer: 64 * 1024 * 1024,
      },
      // A failing run exits non-zero: that is the expected outcome, judged from the report.
      () => resolve(),
    );
  });
  return JSON.parse(await readFile(outputFile, 'utf8')) as JsonReport;
}

const runs = new Map<SabotageName | 'none', Promise<JsonReport>>();
/** Every run (the honest control and each sabotage) starts at once, on first use. */
function report(name: SabotageName | 'none'): Promise<JsonReport> {
  if (runs.size === 0) {
    for (const key of ['none', ...Object.keys(SABOTAGES)] as (SabotageName | 'none')[]) {
      runs.set(key, runSuite(key));
    }
  }
  return runs.get(name) as Promise<JsonReport>;
}

function outcome(result: JsonReport) {
  expect(result.testResults, 'the suite file loaded').toHaveLength(1);
  const [file] = result.testResults;
  expect(file?.message ?? '').toBe('');
  const tests = file?.assertionResults ?? [];
  expect(tests.length).toBeGreaterThan(100);
  expect(result.numPendingTests + result.numTodoTests, 'nothing is skipped').toBe(0);
  return {
    titles: tests.map((test) => test.title),
    failed: tests.filter((test) => test.status === 'failed').map((test) => test.title),
  };
}

describe('the conformance suite fails a provider that declares what it does not do', () => {
  for (const [name, sabotage] of Object.entries(SABOTAGES) as [
    SabotageName,
    (typeof SABOTAGES)[SabotageName],
  ][]) {
    it(`${name}: ${sabotage.description} ⇒ exactly its ${sabotage.capability} tests fail`, async () => {
      // The honest Mock, run the same way, is the baseline: the sabotage must add exactly the
      // expected failures to whatever the baseline shows (nothing, once the Mock conforms).
      const control = outcome(await report('none'));
      const broken = outcome(await report(name));
      const expected = sabotage.failing.map((title) => `${sabotage.capability}: ${title}`);
      const known = CONFORMANCE_TESTS.filter((test) => test.capability === sabotage.capability);
      for (const title of expected) {
        expect(known.map((test) => test.name)).toContain(title);
        expect(control.titles).toContain(title);
        expect(control.failed, `the honest Mock must pass ${title}`).not.toContain(title);
      }
      expect(broken.titles.sort()).toEqual([...control.titles].sort());
      expect(broken.failed.sort()).toEqual([...new Set([...control.failed, ...expected])].sort());
    }, 300_000);
  }
});

describe('createProvider refuses a driver that declares a capability without its method', () => {
  it('a Mock driver declaring snapshots.create without createSnapshot() is a TypeError', () => {
    const mock = createMockDriver();
    const driver = new Proxy(mock, {
      get(target, property) {
        if (property === 'createSnapshot') return undefined;
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    expect(() => createProvider(driver)).toThrow(TypeError);
    expect(() => createProvider(driver)).toThrow(/snapshots\.create.*createSnapshot\(\)/);
  });

  it('a minimal driver declaring migration.diskExport without exportDisk() is a TypeError', () => {
    const driver: ProviderDriver = {
      type: 'minimal',
      name: 'minimal',
      capabilities: declareCapabilities(
        { 'migration.diskExport': 'supported' },
        { defaults: 'unsupported' },
      ),
      validate: async () => ({
        provider: 'minimal',
        type: 'minimal',
        version: '1',
        details: {},
        warnings: [],
      }),
      listPage: async () => ({ items: [] }),
      get: async () => {
        throw new Error('unused');
      },
      getTask: async () => {
        throw new Error('unused');
      },
    };
    expect(() => createProvider(driver)).toThrow(TypeError);
    expect(() => createProvider(driver)).toThrow(/migration\.diskExport.*exportDisk\(\)/);
    const honest = {
      ...driver,
      capabilities: declareCapabilities({}, { defaults: 'unsupported' }),
    };
    expect(createProvider(honest).capabilities['migration.diskExport'].level).toBe('unsupported');
  });
});
