/**
 * Writes the capability matrix, `docs/capabilities.md`, and the capability table of each provider
 * page from the providers' own declarations (`provider.capabilities`). The matrix is never written
 * by hand: a declaration is the single source of truth, and the docs follow it.
 *
 *   tsx scripts/generate-capabilities.ts           write the files (pnpm run docs:capabilities)
 *   tsx scripts/generate-capabilities.ts --check   exit 1 when a file is stale (pnpm run docs:check)
 *
 * It reads the built packages, so run `pnpm run build` first. Exit codes: 0 up to date or
 * written, 1 stale, 2 the matrix could not be generated.
 */
import { spawnSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { CapabilityId, SupportLevel } from '@hvkit/core';

/** A provider in the matrix. Adding a provider is adding one entry to {@link PROVIDERS}. */
interface ProviderEntry {
  /** Column title. */
  readonly title: string;
  /** npm package that holds the provider. */
  readonly package: string;
  /** Where the conformance suite proves the declarations. */
  readonly testBed: string;
  /**
   * The provider's page, relative to the repository root. Its capability table is written between
   * `<!-- capabilities:start -->` and `<!-- capabilities:end -->`.
   */
  readonly page: string;
  /** Resolves with the provider's normalised declarations (`provider.capabilities`). */
  readonly load: () => Promise<unknown>;
}

const PROVIDERS: readonly ProviderEntry[] = [
  {
    title: 'Mock',
    package: '@hvkit/mock',
    testBed: 'in-memory, deterministic',
    page: 'docs/providers/mock.md',
    load: async () => (await import('@hvkit/mock')).createMockProvider().capabilities,
  },
  {
    title: 'Proxmox VE',
    package: '@hvkit/proxmox',
    testBed: 'hvkit Proxmox simulator (PVE 8.4 and 9.1 modes)',
    page: 'docs/providers/proxmox.md',
    load: async () => (await import('@hvkit/proxmox')).PROXMOX_CAPABILITIES,
  },
  {
    title: 'vSphere',
    package: '@hvkit/vsphere',
    testBed: "VMware's vcsim (govmomi 0.24, Debian 12) and recorded fixtures",
    page: 'docs/providers/vsphere.md',
    load: async () => (await import('@hvkit/vsphere')).VSPHERE_CAPABILITIES,
  },
  {
    title: 'libvirt',
    package: '@hvkit/libvirt',
    testBed: 'real libvirtd 9.0 + QEMU 7.2 (TCG) behind OpenSSH, with a booted guest',
    page: 'docs/providers/libvirt.md',
    load: async () => (await import('@hvkit/libvirt')).LIBVIRT_CAPABILITIES,
  },
];

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const MATRIX_FILE = 'docs/capabilities.md';
const START_MARKER = '<!-- capabilities:start -->';
const END_MARKER = '<!-- capabilities:end -->';
const WRITE_COMMAND = 'pnpm run docs:capabilities';
const CHECK_COMMAND = 'pnpm run docs:check';

const LEVELS: Record<SupportLevel, { symbol: string; label: string; meaning: string }> = {
  supported: {
    symbol: '✅',
    label: 'supported',
    meaning: 'Works as the catalog describes; proven by the conformance suite on the test bed.',
  },
  partial: {
    symbol: '🟡',
    label: 'partial',
    meaning: 'Works with a limit, stated in the numbered footnote under the table.',
  },
  unsupported: {
    symbol: '❌',
    label: 'unsupported',
    meaning: 'The operation throws `UnsupportedCapabilityError` before any I/O.',
  },
  'not-applicable': {
    symbol: '➖',
    label: 'not applicable',
    meaning: 'The concept does not exist on this backend; behaves as `unsupported`.',
  },
};
const LEVEL_ORDER = Object.keys(LEVELS) as SupportLevel[];

type Core = typeof import('@hvkit/core');
type Declarations = Record<CapabilityId, { level: SupportLevel; note?: string | undefined }>;

interface LoadedProvider {
  readonly entry: ProviderEntry;
  readonly declarations: Declarations;
}

/** A problem that stops generation; printed without a stack trace. */
class GenerationError extends Error {}

// ---- loading ------------------------------------------------------------------------------------

function describeError(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown } | null)?.code;
  const hint =
    code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND'
      ? ' (the generator reads the built packages: run `pnpm run build` first)'
      : '';
  return `${text}${hint}`;
}

async function loadCore(): Promise<Core> {
  try {
    return await import('@hvkit/core');
  } catch (error) {
    throw new GenerationError(`cannot load @hvkit/core: ${describeError(error)}`);
  }
}

/** Checks a provider's declarations against the catalog and returns them in normalised form. */
function checkDeclarations(core: Core, entry: ProviderEntry, raw: unknown): Declarations {
  if (raw === null || typeof raw !== 'object') {
    throw new GenerationError(
      `${entry.title} (${entry.package}): capabilities is ${raw === null ? 'null' : typeof raw}, not a capability map`,
    );
  }
  const record = raw as Record<string, unknown>;
  const problems: string[] = [];
  for (const id of Object.keys(record)) {
    if (!core.isCapabilityId(id)) problems.push(`unknown capability id ${JSON.stringify(id)}`);
  }
  const output: Partial<Declarations> = {};
  for (const id of core.CAPABILITY_IDS) {
    const value = record[id];
    const status = typeof value === 'string' ? { level: value } : value;
    const level = (status as { level?: unknown } | undefined)?.level;
    const note = (status as { note?: unknown } | undefined)?.note;
    if (status === undefined) {
      problems.push(`${id} is not declared`);
    } else if (typeof level !== 'string' || !LEVEL_ORDER.includes(level as SupportLevel)) {
      problems.push(`${id} has level ${JSON.stringify(level)}`);
    } else if (note !== undefined && typeof note !== 'string') {
      problems.push(`${id} has a note that is not a string`);
    } else if (level === 'partial' && !note) {
      problems.push(`${id} is partial without a note`);
    } else {
      output[id] = { level: level as SupportLevel, note: note || undefined };
    }
  }
  if (problems.length > 0) {
    throw new GenerationError(
      `${entry.title} (${entry.package}) declares capabilities the catalog of @hvkit/core does not accept ` +
        `(is a package build stale? run \`pnpm run build\`):\n  - ${problems.join('\n  - ')}`,
    );
  }
  return output as Declarations;
}

async function loadProviders(core: Core): Promise<LoadedProvider[]> {
  const loaded: LoadedProvider[] = [];
  for (const entry of PROVIDERS) {
    let raw: unknown;
    try {
      raw = await entry.load();
    } catch (error) {
      throw new GenerationError(
        `cannot load the capabilities of ${entry.title} (${entry.package}): ${describeError(error)}`,
      );
    }
    loaded.push({ entry, declarations: checkDeclarations(core, entry, raw) });
  }
  return loaded;
}

/**
 * Counts conformance tests per capability from `CONFORMANCE_TESTS` of `@hvkit/conformance`, read
 * from the workspace package's built entry (the root does not depend on it). Anything missing
 * leaves the "proven by" column out instead of failing: the suite is optional to the matrix.
 */
async function loadConformanceCounts(core: Core): Promise<Map<CapabilityId, number> | undefined> {
  const omit = (reason: string) => {
    console.error(`note: "proven by" column omitted: ${reason}`);
    return undefined;
  };
  let tests: unknown;
  try {
    const directory = path.join(ROOT, 'packages/conformance');
    const manifest = JSON.parse(await readFile(path.join(directory, 'package.json'), 'utf8'));
    const entry = manifest.exports?.['.']?.import?.default ?? manifest.module;
    if (typeof entry !== 'string') return omit('@hvkit/conformance has no ESM entry');
    const module = await import(pathToFileURL(path.join(directory, entry)).href);
    tests = module.CONFORMANCE_TESTS;
  } catch (error) {
    return omit(`cannot load @hvkit/conformance: ${describeError(error)}`);
  }
  if (!Array.isArray(tests)) return omit('@hvkit/conformance does not export CONFORMANCE_TESTS');
  const counts = new Map<CapabilityId, number>(core.CAPABILITY_IDS.map((id) => [id, 0]));
  const unknown = new Set<string>();
  for (const test of tests) {
    const capability: unknown = (test as { capability?: unknown } | null)?.capability;
    for (const id of Array.isArray(capability) ? capability : [capability]) {
      if (core.isCapabilityId(id)) counts.set(id, (counts.get(id) ?? 0) + 1);
      else unknown.add(String(id));
    }
  }
  if (unknown.size > 0) {
    console.error(
      `warning: CONFORMANCE_TESTS names capabilities outside the catalog: ${[...unknown].join(', ')}`,
    );
  }
  return counts;
}

/** A usable capability that no conformance test exercises is a bug (DESIGN.md, principle 1). */
function warnUnproven(
  core: Core,
  providers: readonly LoadedProvider[],
  provenBy: Map<CapabilityId, number>,
): void {
  for (const { entry, declarations } of providers) {
    const unproven = core.CAPABILITY_IDS.filter(
      (id) => core.isUsable(declarations[id]) && (provenBy.get(id) ?? 0) === 0,
    );
    if (unproven.length > 0) {
      console.error(
        `warning: ${entry.title} declares ${unproven.length} capabilities usable that no conformance test exercises: ${unproven.join(', ')}`,
      );
    }
  }
}

// ---- rendering ----------------------------------------------------------------------------------

/** Escapes text for one Markdown table cell. */
function cell(text: string): string {
  return text.replace(/\r?\n/g, ' ').replace(/\|/g, '\\|');
}

function row(cells: readonly string[]): string {
  return `| ${cells.join(' | ')} |`;
}

function headerRow(cells: readonly string[]): string[] {
  return [row(cells), row(cells.map(() => '---'))];
}

function countLevels(declarations: Declarations): Record<SupportLevel, number> {
  const counts: Record<SupportLevel, number> = {
    supported: 0,
    partial: 0,
    unsupported: 0,
    'not-applicable': 0,
  };
  for (const status of Object.values(declarations)) counts[status.level] += 1;
  return counts;
}

function summaryText(declarations: Declarations): string {
  const counts = countLevels(declarations);
  return LEVEL_ORDER.map(
    (level) => `${counts[level]} ${LEVELS[level].symbol} ${LEVELS[level].label}`,
  ).join(' · ');
}

/** A relative Markdown link target from one repository file to another. */
function linkFrom(fromFile: string, toFile: string): string {
  return path.posix.relative(path.posix.dirname(fromFile), toFile);
}

function renderMatrix(
  core: Core,
  providers: readonly LoadedProvider[],
  provenBy: Map<CapabilityId, number> | undefined,
): string {
  const lines: string[] = [
    '<!--',
    `  GENERATED FILE, DO NOT EDIT. Written by \`${WRITE_COMMAND}\` (scripts/generate-capabilities.ts)`,
    '  from the capability declarations of the providers; change a declaration and run it again.',
    `  \`${CHECK_COMMAND}\` fails when this file is stale.`,
    '-->',
    '',
    '# Capability matrix',
    '',
    `> Generated by \`${WRITE_COMMAND}\` from the providers' declarations in code. Do not edit`,
    '> this file by hand: change the declaration and run the command again.',
    '',
    'What each provider declares for every capability of the catalog (`CAPABILITY_CATALOG` in',
    '`@hvkit/core`). `provider.can(vm, capability)` refines a declaration for one VM at run time.',
    'See [the contract](contract.md) for what each level promises.',
    '',
    '## Legend',
    '',
    ...headerRow(['symbol', 'level', 'meaning']),
    ...LEVEL_ORDER.map((level) =>
      row([LEVELS[level].symbol, `\`${level}\``, LEVELS[level].meaning]),
    ),
    '',
  ];
  if (provenBy) {
    lines.push(
      '**proven by**: the number of tests of the conformance suite (`@hvkit/conformance`) that',
      'exercise the capability; each provider runs those its declarations select.',
      '',
    );
  }
  lines.push(
    '## Providers',
    '',
    ...headerRow([
      'provider',
      'package',
      'test bed',
      ...LEVEL_ORDER.map((level) => `${LEVELS[level].symbol} ${LEVELS[level].label}`),
    ]),
  );
  for (const { entry, declarations } of providers) {
    const counts = countLevels(declarations);
    lines.push(
      row([
        `[${cell(entry.title)}](${linkFrom(MATRIX_FILE, entry.page)})`,
        `\`${entry.package}\``,
        cell(entry.testBed),
        ...LEVEL_ORDER.map((level) => String(counts[level])),
      ]),
    );
  }
  lines.push('');

  let footnote = 0;
  for (const [category, categoryTitle] of Object.entries(core.CAPABILITY_CATEGORIES)) {
    const ids = core.CAPABILITY_IDS.filter(
      (id) => core.CAPABILITY_CATALOG[id].category === category,
    );
    if (ids.length === 0) continue;
    const notes: string[] = [];
    lines.push(
      `## ${categoryTitle}`,
      '',
      ...headerRow([
        'capability',
        'title',
        'description',
        ...providers.map(({ entry }) => cell(entry.title)),
        ...(provenBy ? ['proven by'] : []),
      ]),
    );
    for (const id of ids) {
      const info = core.CAPABILITY_CATALOG[id];
      const levels = providers.map(({ entry, declarations }) => {
        const status = declarations[id];
        if (!status.note) return LEVELS[status.level].symbol;
        footnote += 1;
        notes.push(`${footnote}. ${cell(entry.title)}, \`${id}\`: ${cell(status.note)}`);
        return `${LEVELS[status.level].symbol} <sup>${footnote}</sup>`;
      });
      lines.push(
        row([
          `\`${id}\``,
          cell(info.title),
          cell(info.description),
          ...levels,
          ...(provenBy ? [String(provenBy.get(id) ?? 0)] : []),
        ]),
      );
    }
    lines.push('');
    if (notes.length > 0) lines.push(...notes, '');
  }
  return `${lines.join('\n').trimEnd()}\n`;
}

/** The block a provider page carries between its markers. */
function renderPageBlock(core: Core, provider: LoadedProvider): string {
  const { entry, declarations } = provider;
  const lines = [
    START_MARKER,
    `<!-- Generated by \`${WRITE_COMMAND}\` from the declaration of ${entry.title}; do not edit between the markers. -->`,
    '',
    `${summaryText(declarations)} (legend and other providers: [capability matrix](${linkFrom(entry.page, MATRIX_FILE)})).`,
    '',
    ...headerRow(['category', 'capability', 'title', 'level', 'note']),
  ];
  let previous = '';
  for (const id of core.CAPABILITY_IDS) {
    const info = core.CAPABILITY_CATALOG[id];
    const category = core.CAPABILITY_CATEGORIES[info.category];
    const status = declarations[id];
    lines.push(
      row([
        category === previous ? '' : cell(category),
        `\`${id}\``,
        cell(info.title),
        `${LEVELS[status.level].symbol} ${LEVELS[status.level].label}`,
        status.note ? cell(status.note) : '',
      ]),
    );
    previous = category;
  }
  lines.push('', END_MARKER);
  return lines.join('\n');
}

/**
 * Formats a page's block as `biome ci` expects the page to be (Biome formats Markdown: it aligns
 * table columns), so the generated page passes the lint step unchanged.
 */
function formatLikeBiome(file: string, markdown: string): string {
  const biome = createRequire(import.meta.url).resolve('@biomejs/biome/bin/biome');
  const result = spawnSync(process.execPath, [biome, 'format', `--stdin-file-path=${file}`], {
    cwd: ROOT,
    input: markdown,
    encoding: 'utf8',
  });
  if (result.status !== 0) {
    throw new GenerationError(
      `biome could not format the table of ${file}: ${result.error?.message ?? result.stderr}`,
    );
  }
  return result.stdout.trimEnd();
}

/** Replaces the marked block of a page; the markers must each appear exactly once, in order. */
function replaceBlock(file: string, page: string, block: string): string {
  const start = page.indexOf(START_MARKER);
  const end = page.indexOf(END_MARKER);
  if (
    start === -1 ||
    end === -1 ||
    end < start ||
    page.indexOf(START_MARKER, start + 1) !== -1 ||
    page.indexOf(END_MARKER, end + 1) !== -1
  ) {
    throw new GenerationError(
      `${file} must contain ${START_MARKER} and then ${END_MARKER}, once each, where the capability table goes`,
    );
  }
  return page.slice(0, start) + block + page.slice(end + END_MARKER.length);
}

// ---- check --------------------------------------------------------------------------------------

/** A short line diff (longest common subsequence): what a regeneration would remove and add. */
function diffSummary(actual: string, expected: string, maxLines = 30): string[] {
  const a = actual.split('\n');
  const b = expected.split('\n');
  if (a.length * b.length > 4_000_000) {
    return [`  (${a.length} lines on disk, ${b.length} lines expected; too large to diff)`];
  }
  // lcs(i, j): length of the longest common subsequence of a[i..] and b[j..].
  const width = b.length + 1;
  const table = new Uint32Array((a.length + 1) * width);
  const lcs = (i: number, j: number): number => table[i * width + j] ?? 0;
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      table[i * width + j] =
        a[i] === b[j] ? lcs(i + 1, j + 1) + 1 : Math.max(lcs(i + 1, j), lcs(i, j + 1));
    }
  }
  const changes: string[] = [];
  let removed = 0;
  let added = 0;
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      i++;
      j++;
    } else if (i < a.length && (j === b.length || lcs(i + 1, j) >= lcs(i, j + 1))) {
      removed++;
      changes.push(`  - ${String(i + 1).padStart(4)} | ${a[i]}`);
      i++;
    } else {
      added++;
      changes.push(`  + ${String(j + 1).padStart(4)} | ${b[j]}`);
      j++;
    }
  }
  const shown = changes.slice(0, maxLines);
  if (changes.length > maxLines) shown.push(`  … and ${changes.length - maxLines} more lines`);
  return [
    `  regenerating removes ${removed} line(s) and adds ${added} (- on disk, + generated):`,
    ...shown,
  ];
}

async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await readFile(path.join(ROOT, file), 'utf8');
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ENOENT') return undefined;
    throw error;
  }
}

// ---- main ---------------------------------------------------------------------------------------

async function main(argv: readonly string[]): Promise<number> {
  const unknownArgs = argv.filter((arg) => arg !== '--check');
  if (unknownArgs.length > 0) {
    console.error(`unknown argument(s): ${unknownArgs.join(' ')}`);
    console.error('usage: tsx scripts/generate-capabilities.ts [--check]');
    return 2;
  }
  const check = argv.includes('--check');

  const core = await loadCore();
  const providers = await loadProviders(core);
  const provenBy = await loadConformanceCounts(core);
  if (provenBy) warnUnproven(core, providers, provenBy);

  const outputs: { file: string; current: string | undefined; expected: string }[] = [];
  const matrix = await readIfExists(MATRIX_FILE);
  outputs.push({
    file: MATRIX_FILE,
    current: matrix,
    expected: renderMatrix(core, providers, provenBy),
  });
  for (const provider of providers) {
    const file = provider.entry.page;
    const page = await readIfExists(file);
    if (page === undefined) {
      throw new GenerationError(
        `${file} (the page of ${provider.entry.title}) does not exist; create it with ${START_MARKER} and ${END_MARKER} where the table goes`,
      );
    }
    outputs.push({
      file,
      current: page,
      expected: replaceBlock(file, page, formatLikeBiome(file, renderPageBlock(core, provider))),
    });
  }

  const stale = outputs.filter((output) => output.current !== output.expected);
  if (check) {
    if (stale.length === 0) {
      console.log(`capability docs are up to date (${outputs.map((o) => o.file).join(', ')})`);
      return 0;
    }
    console.error(
      `capability docs are stale: ${stale.map((o) => o.file).join(', ')}.\n` +
        `They are generated from the providers' declarations; run \`${WRITE_COMMAND}\` and commit the result.`,
    );
    for (const output of stale) {
      console.error(`\n${output.file}:`);
      if (output.current === undefined) console.error('  missing');
      else for (const line of diffSummary(output.current, output.expected)) console.error(line);
    }
    return 1;
  }
  for (const output of outputs) {
    if (output.current === output.expected) {
      console.log(`${output.file} is up to date`);
    } else {
      await writeFile(path.join(ROOT, output.file), output.expected);
      console.log(`wrote ${output.file}`);
    }
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof GenerationError) console.error(`generate-capabilities: ${error.message}`);
    else console.error(error);
    process.exit(2);
  },
);
