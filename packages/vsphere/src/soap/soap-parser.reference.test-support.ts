/**
 * Test-only oracle for the vim25 parser: the last saxes-based builder (commit d956979), kept
 * verbatim in its value rules, so the differential property test can compare the hand-written
 * scanner in `soap-parser.ts` against a well-formedness-checking, namespace-aware SAX parser.
 * Not part of the package (tsup builds from `src/index.ts` only; saxes is a dev dependency).
 */
import { SaxesParser, type SaxesTagNS } from 'saxes';
import type { ManagedObjectReference } from './soap-envelope.js';
import type { SoapFault } from './soap-faults.js';
import type { ObjectContent, SoapResponse } from './soap-parser.js';

const SOAPENV = 'http://schemas.xmlsoap.org/soap/envelope/';
const XSD = 'http://www.w3.org/2001/XMLSchema';
const XSI = 'http://www.w3.org/2001/XMLSchema-instance';

const ARRAY_FIELDS: ReadonlySet<string> = new Set([
  'objects',
  'propSet',
  'missingSet',
  'pathSet',
  'objectSet',
  'selectSet',
  'specSet',
  'changeSet',
  'filterSet',
  'objectSet',
  'childSnapshotList',
  'rootSnapshotList',
  'device',
  'extraConfig',
  'disabledMethod',
  'recentTask',
  'GuestNicInfo.ipAddress',
  'GuestInfo.net',
  'GuestInfo.disk',
]);

/**
 * Scalars vim25 sends without `xsi:type` whose type is not a string (fields of TaskInfo,
 * UserSession, the property collector's specs, VirtualHardware and VirtualDevice). Unlisted
 * untyped leaves stay strings; the operations validate them with zod.
 */
const SCALAR_FIELDS: Readonly<Record<string, 'number' | 'boolean'>> = {
  cancelled: 'boolean',
  cancelable: 'boolean',
  progress: 'number',
  eventChainId: 'number',
  extensionSession: 'boolean',
  callCount: 'number',
  skip: 'boolean',
  all: 'boolean',
  recursive: 'boolean',
  maxObjects: 'number',
  numCPU: 'number',
  numCoresPerSocket: 'number',
  memoryMB: 'number',
  controllerKey: 'number',
  unitNumber: 'number',
  capacityInKB: 'number',
  capacityInBytes: 'number',
};

const NUMERIC_XSD = new Set([
  'int',
  'long',
  'short',
  'byte',
  'double',
  'float',
  'unsignedInt',
  'unsignedLong',
  'unsignedShort',
  'unsignedByte',
]);

function scalar(text: string, kind: 'number' | 'boolean' | 'string'): unknown {
  if (kind === 'boolean') return text.trim() === 'true' || text.trim() === '1';
  if (kind === 'number') {
    const number = Number(text.trim());
    return text.trim() === '' || Number.isNaN(number) ? text : number;
  }
  return text;
}

function xsdKind(local: string): 'number' | 'boolean' | 'string' {
  if (NUMERIC_XSD.has(local)) return 'number';
  return local === 'boolean' ? 'boolean' : 'string';
}

interface Frame {
  /** Local name of the element. */
  name: string;
  /** Namespace URI of the element. */
  uri: string;
  /** Local name of its `xsi:type`, if any. */
  xsiType: string | undefined;
  /** True when `xsi:type` names an XSD type (`xsd:int`). */
  xsdType: boolean;
  /** The moref type attribute (`type="VirtualMachine"`). */
  morefType: string | undefined;
  /** The type this frame's fields belong to, for `Type.field` lookups. */
  ownerType: string | undefined;
  /** True inside an `ArrayOf…` wrapper: every child is an item. */
  arrayOf: boolean;
  /** True when the parent is an `ArrayOf…` wrapper. */
  item: boolean;
  text: string;
  fields: Record<string, unknown> | undefined;
  repeated: Set<string> | undefined;
  items: unknown[] | undefined;
}

function attach(parent: Frame, name: string, value: unknown): void {
  if (parent.arrayOf) {
    parent.items ??= [];
    parent.items.push(value);
    return;
  }
  parent.fields ??= {};
  parent.repeated ??= new Set();
  const fields = parent.fields;
  const isArray =
    ARRAY_FIELDS.has(name) ||
    (parent.ownerType !== undefined && ARRAY_FIELDS.has(`${parent.ownerType}.${name}`));
  if (parent.repeated.has(name)) {
    (fields[name] as unknown[]).push(value);
  } else if (isArray) {
    fields[name] = [value];
    parent.repeated.add(name);
  } else if (name in fields) {
    fields[name] = [fields[name], value];
    parent.repeated.add(name);
  } else {
    fields[name] = value;
  }
}

function frameValue(frame: Frame): unknown {
  if (frame.arrayOf) return frame.items ?? [];
  if (frame.fields !== undefined) {
    return frame.xsiType === undefined || frame.xsdType
      ? frame.fields
      : { $type: frame.xsiType, ...frame.fields };
  }
  if (frame.morefType !== undefined) return { type: frame.morefType, value: frame.text };
  if (frame.xsiType !== undefined) {
    if (frame.xsdType) return scalar(frame.text, xsdKind(frame.xsiType));
    // An enum value (`VirtualMachinePowerState`) has text; a data object without fields has none.
    return frame.text === '' ? { $type: frame.xsiType } : frame.text;
  }
  if (frame.item) return scalar(frame.text, xsdKind(frame.name));
  const kind = SCALAR_FIELDS[frame.name];
  return kind === undefined ? frame.text : scalar(frame.text, kind);
}

/**
 * The streaming core: SAX events in, plain values out. Only the element being built is held;
 * `objects` elements under a property collector result go to `onObject` as they close, so a
 * 5,000-VM result never becomes one tree.
 */
class ReferenceBuilder {
  private readonly parser = new SaxesParser({ xmlns: true });
  private readonly stack: Frame[] = [];
  element: string | undefined;
  returnval: unknown[] = [];
  fault: SoapFault | undefined;
  token: string | undefined;

  constructor(private readonly onObject?: (content: ObjectContent) => void) {
    this.parser.on('opentag', (tag) => this.open(tag));
    this.parser.on('closetag', () => this.close());
    this.parser.on('text', (text) => this.text(text));
    this.parser.on('cdata', (text) => this.text(text));
  }

  write(text: string): void {
    this.parser.write(text);
  }

  end(): void {
    this.parser.close();
  }

  private open(tag: SaxesTagNS): void {
    const parent = this.stack.at(-1);
    let xsiType: string | undefined;
    let xsdType = false;
    let morefType: string | undefined;
    for (const attribute of Object.values(tag.attributes)) {
      // Resolved by namespace URI: vCenter writes `xsi:type`, vcsim `XMLSchema-instance:type`.
      if (attribute.uri === XSI && attribute.local === 'type') {
        const colon = attribute.value.indexOf(':');
        const prefix = colon === -1 ? '' : attribute.value.slice(0, colon);
        xsiType = attribute.value.slice(colon + 1);
        xsdType = this.parser.resolve(prefix) === XSD;
      } else if (attribute.uri === '' && attribute.local === 'type') {
        morefType = attribute.value;
      }
    }
    const item = parent?.arrayOf === true;
    this.stack.push({
      name: tag.local,
      uri: tag.uri,
      xsiType,
      xsdType,
      morefType,
      ownerType: xsiType !== undefined && !xsdType ? xsiType : item ? tag.local : undefined,
      arrayOf: xsiType !== undefined && !xsdType && xsiType.startsWith('ArrayOf'),
      item,
      text: '',
      fields: undefined,
      repeated: undefined,
      items: undefined,
    });
    if (parent !== undefined) parent.text = '';
  }

  private text(text: string): void {
    const frame = this.stack.at(-1);
    // Text only matters in leaves; whitespace between child elements is dropped.
    if (frame !== undefined && frame.fields === undefined && frame.items === undefined) {
      frame.text += text;
    }
  }

  private close(): void {
    const frame = this.stack.pop();
    if (frame === undefined) return;
    const depth = this.stack.length;
    const parent = this.stack.at(-1);
    const value = frameValue(frame);
    // Envelope (0) > Body (1) > XResponse | Fault (2) > returnval (3) > objects (4).
    if (depth === 2 && frame.name === 'Fault' && frame.uri === SOAPENV) {
      const fields = (frame.fields ?? {}) as Record<string, unknown>;
      const detail = (fields.detail ?? {}) as Record<string, unknown>;
      const [first] = Object.values(detail);
      const detailObject =
        typeof first === 'object' && first !== null ? (first as Record<string, unknown>) : {};
      const { $type, ...detailFields } = detailObject;
      const detailName = Object.keys(detail)[0];
      this.fault = {
        faultcode: typeof fields.faultcode === 'string' ? fields.faultcode : '',
        faultstring: typeof fields.faultstring === 'string' ? fields.faultstring : '',
        type: typeof $type === 'string' ? $type : detailName?.replace(/Fault$/, '') || undefined,
        detail: detailFields,
      };
      return;
    }
    if (depth === 2) {
      this.element = frame.name;
      return;
    }
    if (depth === 3 && frame.name === 'returnval') {
      this.returnval.push(value);
      return;
    }
    if (depth === 4 && this.onObject !== undefined && this.stack[3]?.name === 'returnval') {
      if (frame.name === 'objects') {
        this.onObject(toObjectContent(value));
        return;
      }
      if (frame.name === 'token' && typeof value === 'string') this.token = value;
    }
    if (parent !== undefined) attach(parent, frame.name, value);
  }
}

/** Folds a parsed `ObjectContent` (`obj`, `propSet[]`, `missingSet[]`) into {@link ObjectContent}. */
function toObjectContent(value: unknown): ObjectContent {
  const record = (value ?? {}) as Record<string, unknown>;
  const properties: Record<string, unknown> = {};
  for (const entry of (record.propSet ?? []) as Record<string, unknown>[]) {
    if (typeof entry.name === 'string') properties[entry.name] = entry.val;
  }
  const missing = ((record.missingSet ?? []) as Record<string, unknown>[]).map((entry) => ({
    path: typeof entry.path === 'string' ? entry.path : '',
    fault: entry.fault,
  }));
  return { obj: record.obj as ManagedObjectReference, properties, missing };
}

/** The reference's answer for a whole document: a response, or the error saxes (or the envelope check) raised. */
export type ReferenceOutcome = { ok: true; response: SoapResponse } | { ok: false; error: Error };

function run(builder: ReferenceBuilder, text: string): Error | undefined {
  try {
    builder.write(text);
    builder.end();
  } catch (error) {
    return error instanceof Error ? error : new Error(String(error));
  }
  if (builder.fault === undefined && builder.element === undefined) {
    return new Error('no SOAP Body content');
  }
  return undefined;
}

/** `parseSoapResponse` as the saxes version computed it. */
export function referenceParse(text: string): ReferenceOutcome {
  const builder = new ReferenceBuilder();
  const error = run(builder, text);
  if (error !== undefined) return { ok: false, error };
  if (builder.fault !== undefined)
    return { ok: true, response: { kind: 'fault', fault: builder.fault } };
  return {
    ok: true,
    response: { kind: 'result', element: builder.element ?? '', returnval: builder.returnval },
  };
}

/** The reference's answer for a streamed property collector result. */
export type ReferenceStreamOutcome =
  | { ok: true; objects: ObjectContent[]; token: string | undefined; fault: SoapFault | undefined }
  | { ok: false; error: Error };

/** `streamRetrieveResult` as the saxes version computed it: the objects, the token, or the fault. */
export function referenceStream(text: string): ReferenceStreamOutcome {
  const objects: ObjectContent[] = [];
  const builder = new ReferenceBuilder((content) => objects.push(content));
  const error = run(builder, text);
  if (error !== undefined) return { ok: false, error };
  return { ok: true, objects, token: builder.token, fault: builder.fault };
}
