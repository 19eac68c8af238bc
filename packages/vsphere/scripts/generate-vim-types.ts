/**
 * Writes `src/soap/vim-types.generated.ts`, the vim25 field-order table the SOAP envelope writer
 * uses, from govmomi's `vim25/types/types.go`. Real vCenter rejects a request whose elements are
 * out of schema order and vcsim does not check, so the order must come from a reference, never
 * from memory: govmomi generates its Go structs from the vim25 WSDL, with the base type embedded
 * as the first field and each field's element name in its `xml` tag.
 *
 *   tsx scripts/generate-vim-types.ts           write the file (pnpm run vim-types)
 *   tsx scripts/generate-vim-types.ts --check   exit 1 when the committed file is stale
 *                                                (pnpm run vim-types:check)
 *
 * The source defaults to Debian's golang-github-vmware-govmomi-dev (govmomi 0.24.2); set
 * `GOVMOMI_TYPES_GO` to read another copy. Exit codes: 0 written or up to date, 1 stale, 2 the
 * table could not be generated (types.go absent or not understood).
 *
 * Which types: the closure of {@link ROOTS} under (a) the base chain, (b) every field's type and
 * (c) for a field typed as a `BaseXxx` interface — the only place vim25 accepts a subtype with
 * `xsi:type` — every subtype of `Xxx`; a root brings its subtypes too. Fault types (MethodFault,
 * LocalizedMethodFault and their subtypes) are left out, because hvkit never sends a fault; a
 * field typed as a fault is dropped from its type and listed in the generated file's header. `*RequestType` and `*Response` structs are method wrappers, not
 * data objects, and are never roots or field types.
 *
 * Output: one plain object literal per type (base, fields as `[element, declared type]`), formatted
 * by the repository's biome so `--check` compares formatted text. Enum-typed fields are declared
 * `string` (vim25 sends enums as strings). Around 100 KB, so no denser encoding is needed.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Types the provider sends, with why. Their closure is the table; add a root here (never a
 * hand-written entry in vim-types.ts) when the provider starts sending a new argument type.
 */
const ROOTS: readonly (readonly [type: string, why: string])[] = [
  ['PropertyFilterSpec', 'RetrieveProperties(Ex), CreateFilter'],
  ['RetrieveOptions', 'RetrievePropertiesEx'],
  ['WaitOptions', 'WaitForUpdatesEx'],
  ['VirtualMachineConfigSpec', 'CreateVM_Task, ReconfigVM_Task'],
  ['VirtualMachineCloneSpec', 'CloneVM_Task'],
  ['VirtualMachineRelocateSpec', 'RelocateVM_Task'],
  ['CustomizationSpec', 'CustomizeVM_Task, in VirtualMachineCloneSpec'],
  ['CustomizationSpecItem', 'CreateCustomizationSpec'],
  ['ClusterConfigSpecEx', 'ReconfigureComputeResource_Task (rules, DRS, HA)'],
  ['ResourceConfigSpec', 'CreateResourcePool, UpdateConfig, UpdateChildResourceConfiguration'],
  ['PerfQuerySpec', 'QueryPerf'],
  ['EventFilterSpec', 'QueryEvents, CreateCollectorForEvents'],
  ['TaskFilterSpec', 'CreateCollectorForTasks'],
  ['OvfCreateImportSpecParams', 'CreateImportSpec'],
  ['OvfParseDescriptorParams', 'ParseDescriptor'],
  ['ImportSpec', 'ImportVApp (VirtualMachineImportSpec, VirtualAppImportSpec)'],
  ['VirtualMachineImportSpec', 'returned by CreateImportSpec, sent back to ImportVApp'],
  ['VirtualDiskSpec', 'CreateVirtualDisk_Task, CopyVirtualDisk_Task (FileBackedVirtualDiskSpec)'],
  ['VirtualDevice', 'every concrete device (disks, controllers, NICs, CD-ROM, floppy, …)'],
  ['VirtualDeviceBackingInfo', 'every device backing'],
  ['OptionValue', 'extraConfig, UpdateOptions'],
  // HttpNfcLeaseProgress takes only an xsd:int percentage: no data object to add.
];

/**
 * Types never sent, with their subtypes: faults, and LocalizedMethodFault, the DynamicData that
 * carries one (only in fields the server sets, such as ToolsConfigInfoToolsLastInstallInfo.fault).
 */
const FAULT_ROOTS: ReadonlySet<string> = new Set(['MethodFault', 'LocalizedMethodFault']);

const PACKAGE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const REPO_ROOT = path.resolve(PACKAGE_DIR, '../..');
const OUTPUT = path.join(PACKAGE_DIR, 'src/soap/vim-types.generated.ts');
const DEFAULT_SOURCE = '/usr/share/gocode/src/github.com/vmware/govmomi/vim25/types/types.go';
const WRITE_COMMAND = 'pnpm -F @hvkit/vsphere run vim-types';

/** One Go struct field: its XML element name and its Go type as written (`[]*Foo`, `BaseBar`). */
interface GoField {
  readonly element: string;
  readonly goType: string;
}

interface GoStruct {
  readonly name: string;
  readonly base: string | undefined;
  readonly fields: readonly GoField[];
}

class GenerationError extends Error {}

const GO_SCALARS: Readonly<Record<string, string>> = {
  string: 'string',
  bool: 'boolean',
  int64: 'long',
  int32: 'int',
  int16: 'short',
  // govmomi maps xsd:byte to Go's byte; `[]byte` (base64Binary) is handled before this table.
  byte: 'byte',
  float32: 'float',
  float64: 'double',
  'time.Time': 'dateTime',
  AnyType: 'anyType',
  ManagedObjectReference: 'ManagedObjectReference',
};

const STRUCT_START = /^type ([A-Za-z0-9_]+) struct \{$/;
const FIELD = /^\t([A-Za-z0-9_]+)\s+(\S+)\s+`xml:"([^",]*)([^"]*)"`$/;
const EMBEDDED = /^\t([A-Za-z0-9_]+)$/;

/** Parses every `type X struct { … }` of types.go, keeping field order. */
function parseStructs(source: string): Map<string, GoStruct> {
  const structs = new Map<string, GoStruct>();
  const lines = source.split('\n');
  for (let index = 0; index < lines.length; index++) {
    const start = STRUCT_START.exec(lines[index] ?? '');
    if (start === null) continue;
    const name = start[1] as string;
    // ManagedObjectReference is a scalar here (GO_SCALARS): an attribute and text, no elements.
    if (name === 'ManagedObjectReference') continue;
    let base: string | undefined;
    const fields: GoField[] = [];
    for (index++; index < lines.length && lines[index] !== '}'; index++) {
      const line = lines[index] as string;
      if (line.trim() === '') continue;
      const embedded = EMBEDDED.exec(line);
      if (embedded !== null) {
        // The order argument rests on the base being first; refuse a struct that breaks it.
        if (base !== undefined || fields.length > 0) {
          throw new GenerationError(`${name}: embedded ${embedded[1]} is not the first field`);
        }
        base = embedded[1];
        continue;
      }
      const field = FIELD.exec(line);
      if (field === null) throw new GenerationError(`${name}: cannot parse field line ${line}`);
      // Only ManagedObjectReference has attributes or character data; refuse any other.
      if (field[3] === '' || /,(attr|chardata)\b/.test(field[4] as string)) {
        throw new GenerationError(`${name}.${field[1]} is not an XML element`);
      }
      fields.push({ element: field[3] as string, goType: field[2] as string });
    }
    structs.set(name, { name, base, fields });
  }
  return structs;
}

/** The struct or scalar a Go field type names, with the `[]`, `*` and `Base` wrappers removed. */
function resolveGoType(
  goType: string,
  structs: ReadonlyMap<string, GoStruct>,
  enums: ReadonlySet<string>,
): { readonly declared: string; readonly polymorphic: boolean; readonly struct: boolean } {
  // `[]byte` is one base64Binary element and `[][]byte` a repeated one, so test it before `[]`
  // (a repeated element) is stripped.
  if (goType === '[]byte' || goType === '[][]byte') {
    return { declared: 'base64Binary', polymorphic: false, struct: false };
  }
  let type = goType;
  if (type.startsWith('[]')) type = type.slice(2);
  if (type.startsWith('*')) type = type.slice(1);
  const scalar = GO_SCALARS[type];
  if (scalar !== undefined) return { declared: scalar, polymorphic: false, struct: false };
  if (enums.has(type)) return { declared: 'string', polymorphic: false, struct: false };
  if (structs.has(type)) return { declared: type, polymorphic: false, struct: true };
  if (type.startsWith('Base') && structs.has(type.slice(4))) {
    return { declared: type.slice(4), polymorphic: true, struct: true };
  }
  throw new GenerationError(`unknown Go type ${goType}`);
}

interface Table {
  readonly types: ReadonlyMap<string, { base: string | undefined; fields: [string, string][] }>;
  readonly dropped: readonly string[];
}

function buildTable(source: string, enumSource: string): Table {
  const structs = parseStructs(source);
  const enums = new Set(
    [...enumSource.matchAll(/^type ([A-Za-z0-9_]+) string$/gm)].map((match) => match[1] as string),
  );
  const children = new Map<string, string[]>();
  for (const struct of structs.values()) {
    if (struct.base === undefined) continue;
    children.set(struct.base, [...(children.get(struct.base) ?? []), struct.name]);
  }
  const isFault = (type: string): boolean => {
    for (let current: string | undefined = type; current !== undefined; ) {
      if (FAULT_ROOTS.has(current)) return true;
      current = structs.get(current)?.base;
    }
    return false;
  };
  const isWrapper = (type: string): boolean =>
    type.endsWith('RequestType') || type.endsWith('Response');

  const types = new Map<string, { base: string | undefined; fields: [string, string][] }>();
  const dropped: string[] = [];
  const pending: string[] = [];
  const want = (type: string): void => {
    if (!types.has(type) && !pending.includes(type)) pending.push(type);
  };
  const subtypesOf = (type: string): string[] =>
    (children.get(type) ?? []).flatMap((child) => [child, ...subtypesOf(child)]);

  for (const [root] of ROOTS) {
    if (!structs.has(root)) throw new GenerationError(`root ${root} is not a struct in types.go`);
    want(root);
    for (const subtype of subtypesOf(root)) if (!isFault(subtype)) want(subtype);
  }
  while (pending.length > 0) {
    const name = pending.shift() as string;
    if (types.has(name)) continue;
    if (isFault(name) || isWrapper(name)) {
      throw new GenerationError(`${name} is a fault or method wrapper and cannot be in the table`);
    }
    const struct = structs.get(name) as GoStruct;
    if (struct.base !== undefined) want(struct.base);
    const fields: [string, string][] = [];
    for (const field of struct.fields) {
      const resolved = resolveGoType(field.goType, structs, enums);
      if (resolved.struct && isFault(resolved.declared)) {
        dropped.push(`${name}.${field.element} (${resolved.declared})`);
        continue;
      }
      fields.push([field.element, resolved.declared]);
      if (!resolved.struct) continue;
      want(resolved.declared);
      if (resolved.polymorphic) {
        for (const subtype of subtypesOf(resolved.declared)) if (!isFault(subtype)) want(subtype);
      }
    }
    types.set(name, { base: struct.base, fields });
  }
  return { types, dropped };
}

function render(table: Table, sourceLabel: string): string {
  const names = [...table.types.keys()].sort();
  const roots = ROOTS.map(([root]) => root).join(', ');
  const lines = [
    '// Generated by scripts/generate-vim-types.ts from govmomi vim25/types/types.go; do not edit.',
    `// Regenerate with \`${WRITE_COMMAND}\`.`,
    `// Source: ${sourceLabel}.`,
    `// ${table.types.size} types, the closure of these roots and their subtypes:`,
    ...wrap(roots, 95).map((line) => `//   ${line}`),
    ...(table.dropped.length === 0
      ? []
      : [
          '// Fields typed as a fault, left out because hvkit never sends faults:',
          ...table.dropped.map((entry) => `//   ${entry}`),
        ]),
    '',
    '/**',
    ' * vim25 data object types: each base type and own fields (element name, declared type) in',
    ' * schema order. Enums are declared `string`; read through vim-types.ts.',
    ' */',
    'export const GENERATED_VIM_TYPES: Readonly<',
    '  Record<string, { readonly base?: string; readonly fields: readonly (readonly [string, string])[] }>',
    '> = {',
  ];
  for (const name of names) {
    const info = table.types.get(name) as { base: string | undefined; fields: [string, string][] };
    const base = info.base === undefined ? '' : `base: '${info.base}', `;
    const fields = info.fields.map(([field, type]) => `['${field}', '${type}']`).join(', ');
    lines.push(`  ${name}: { ${base}fields: [${fields}] },`);
  }
  lines.push('};', '');
  return lines.join('\n');
}

/** Splits a comma-separated list into lines of at most `width` characters. */
function wrap(list: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of list.split(' ')) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  if (line !== '') lines.push(line);
  return lines;
}

/** Formats `text` with the repository's biome so `--check` compares what is committed. */
function format(text: string): string {
  const biome = path.join(REPO_ROOT, 'node_modules/.bin/biome');
  const result = spawnSync(biome, ['format', `--stdin-file-path=${OUTPUT}`], {
    cwd: REPO_ROOT,
    input: text,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.status !== 0) {
    throw new GenerationError(`biome format failed: ${result.stderr || result.error?.message}`);
  }
  return result.stdout;
}

async function main(): Promise<number> {
  const check = process.argv.includes('--check');
  const source = process.env.GOVMOMI_TYPES_GO ?? DEFAULT_SOURCE;
  if (!existsSync(source)) {
    console.error(
      `generate-vim-types: ${source} is absent. Install Debian's golang-github-vmware-govmomi-dev ` +
        '(apt-get install golang-github-vmware-govmomi-dev) or set GOVMOMI_TYPES_GO to a ' +
        'govmomi vim25/types/types.go.',
    );
    return 2;
  }
  const enumPath = path.join(path.dirname(source), 'enum.go');
  if (!existsSync(enumPath)) {
    console.error(`generate-vim-types: ${enumPath} (beside types.go) is absent.`);
    return 2;
  }
  let output: string;
  try {
    const table = buildTable(await readFile(source, 'utf8'), await readFile(enumPath, 'utf8'));
    const label = source === DEFAULT_SOURCE ? 'Debian golang-github-vmware-govmomi-dev' : source;
    output = format(render(table, label));
  } catch (error) {
    if (!(error instanceof GenerationError)) throw error;
    console.error(`generate-vim-types: ${error.message}`);
    return 2;
  }
  const relative = path.relative(REPO_ROOT, OUTPUT);
  if (check) {
    const committed = existsSync(OUTPUT) ? await readFile(OUTPUT, 'utf8') : '';
    if (committed === output) return 0;
    console.error(
      `generate-vim-types: ${relative} is stale (it differs from what types.go produces). ` +
        `Run \`${WRITE_COMMAND}\` and commit the result.`,
    );
    return 1;
  }
  await writeFile(OUTPUT, output);
  console.log(`generate-vim-types: wrote ${relative} (${Buffer.byteLength(output)} bytes)`);
  return 0;
}

process.exitCode = await main();
