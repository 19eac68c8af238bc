import { Buffer, isUtf8 } from 'node:buffer';
import { HvkitError, ProviderApiError } from '@hvkit/core';
import type { ManagedObjectReference } from './soap-envelope.js';
import { type FaultContext, type SoapFault, soapFaultToError } from './soap-faults.js';

const SOAPENV = 'http://schemas.xmlsoap.org/soap/envelope/';
const XSD = 'http://www.w3.org/2001/XMLSchema';
const XSI = 'http://www.w3.org/2001/XMLSchema-instance';

/** A response body: the whole text, or the raw bytes as they arrive. */
export type SoapBody = string | AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

/** A parsed response: the method's `returnval` elements (zero or more), or a SOAP fault. */
export type SoapResponse =
  | {
      kind: 'result' /** e.g. `RetrievePropertiesExResponse` */;
      element: string;
      returnval: unknown[];
    }
  | { kind: 'fault'; fault: SoapFault };

/** One `ObjectContent` of a property collector result, with `propSet` folded into a record. */
export interface ObjectContent {
  obj: ManagedObjectReference;
  /** Property path → parsed value (`'runtime.powerState'` → `'poweredOn'`). */
  properties: Record<string, unknown>;
  /** `missingSet`: paths the collector could not read, with the fault (`$type`) for each. */
  missing: { path: string; fault: unknown }[];
}

/**
 * Fields that are arrays in vim25 even when they hold one element. Keys are a field name (always
 * an array) or `Type.field` (an array in that type only: `GuestInfo.ipAddress` is one string,
 * `GuestNicInfo.ipAddress` a list).
 */
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

/** {@link ARRAY_FIELDS}' `Type.field` entries as type → fields, so a lookup builds no string. */
const TYPED_ARRAY_FIELDS: ReadonlyMap<string, ReadonlySet<string>> = (() => {
  const byType = new Map<string, Set<string>>();
  for (const entry of ARRAY_FIELDS) {
    const dot = entry.indexOf('.');
    if (dot === -1) continue;
    const type = entry.slice(0, dot);
    const fields = byType.get(type) ?? new Set<string>();
    fields.add(entry.slice(dot + 1));
    byType.set(type, fields);
  }
  return byType;
})();

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
  if (kind === 'string') return text;
  const trimmed = text.trim();
  if (kind === 'boolean') return trimmed === 'true' || trimmed === '1';
  const number = Number(trimmed);
  return trimmed === '' || Number.isNaN(number) ? text : number;
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
  const fields = parent.fields;
  if (parent.repeated?.has(name) === true) {
    (fields[name] as unknown[]).push(value);
  } else if (
    ARRAY_FIELDS.has(name) ||
    (parent.ownerType !== undefined && TYPED_ARRAY_FIELDS.get(parent.ownerType)?.has(name) === true)
  ) {
    fields[name] = [value];
    parent.repeated ??= new Set();
    parent.repeated.add(name);
  } else if (name in fields) {
    fields[name] = [fields[name], value];
    parent.repeated ??= new Set();
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

function malformed(error: unknown, context: FaultContext): HvkitError {
  // A lost connection surfaces while the body is read: it stays a transport error, not bad XML.
  if (HvkitError.isInstance(error)) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new ProviderApiError(`vSphere sent a response that is not well-formed XML: ${message}`, {
    provider: context.provider,
    redact: context.redact,
    retryable: false,
    cause: error,
  });
}

const XML_NS = 'http://www.w3.org/XML/1998/namespace';
const XMLNS_NS = 'http://www.w3.org/2000/xmlns/';

const ENTITIES: Readonly<Record<string, string>> = {
  lt: '<',
  gt: '>',
  amp: '&',
  quot: '"',
  apos: "'",
};

/** Replaces the five predefined entities and character references; refuses any other `&`. */
function decodeEntities(text: string): string {
  let amp = text.indexOf('&');
  if (amp === -1) return text;
  let out = '';
  let from = 0;
  while (amp !== -1) {
    const semi = text.indexOf(';', amp);
    if (semi === -1) throw new Error('unterminated entity reference');
    const name = text.slice(amp + 1, semi);
    let value: string | undefined;
    // Any number of digits: XML allows leading zeros (`&#x0001F600;`); codePoint bounds the value.
    if (/^#[0-9]+$/.test(name)) value = codePoint(Number.parseInt(name.slice(1), 10));
    else if (/^#x[0-9a-fA-F]+$/.test(name)) value = codePoint(Number.parseInt(name.slice(2), 16));
    else value = Object.hasOwn(ENTITIES, name) ? ENTITIES[name] : undefined;
    if (value === undefined) throw new Error(`undefined entity &${name};`);
    out += text.slice(from, amp) + value;
    from = semi + 1;
    amp = text.indexOf('&', from);
  }
  return out + text.slice(from);
}

function codePoint(code: number): string | undefined {
  const allowed =
    code === 0x9 ||
    code === 0xa ||
    code === 0xd ||
    (code >= 0x20 && code <= 0xd7ff) ||
    (code >= 0xe000 && code <= 0xfffd) ||
    (code >= 0x10000 && code <= 0x10ffff);
  return allowed ? String.fromCodePoint(code) : undefined;
}

/** `<?xml version="1.x" encoding="…" standalone="yes|no"?>`, the last two optional, in order. */
const XML_DECLARATION =
  /^<\?xml\s+version\s*=\s*(["'])1\.[0-9]+\1(?:\s+encoding\s*=\s*(["'])[A-Za-z][A-Za-z0-9._-]*\2)?(?:\s+standalone\s*=\s*(["'])(?:yes|no)\3)?\s*\?>$/;

/** A character that cannot be in an attribute name (nor between it and its `=`, but spaces). */
const ATTRIBUTE_NAME_END = /[\s<>/]/;

function isSpace(code: number): boolean {
  return code === 0x20 || code === 0x0a || code === 0x09 || code === 0x0d;
}

interface ScanHandler {
  open(local: string, uri: string): void;
  close(): void;
  text(text: string): void;
  /** An element holding only text (`<name>x</name>`): open, text and close in one call. */
  leaf(local: string, uri: string, text: string): void;
}

/**
 * A small non-validating XML scanner for vim25 responses, about five times faster than a general
 * SAX parser on a 5,000-VM listing (it finds tags with `indexOf` instead of a character state
 * machine). It checks what tells a truncated or broken response from a good one: tags balanced
 * and properly nested, one root element, attributes quoted, namespace prefixes bound, entities
 * and character references defined, the XML declaration first and well-formed if present, no
 * text outside the root. It reads line ends (`\r\n`, `\r` → `\n`) and attribute values (a
 * literal tab or line end → space) as XML requires. It does not check name characters, the
 * characters allowed in text, duplicate attributes, `--` in comments, `]]>` in text or reserved
 * namespace bindings, and refuses a DOCTYPE (SOAP forbids one). Input may be split anywhere: an
 * incomplete construct waits for the next `write`. soap-parser.property.test.ts compares it with
 * saxes on generated documents.
 */
class XmlScanner {
  private buffer = '';
  private readonly names: string[] = [];
  // Namespace bindings in scope as parallel stacks (innermost last), and how many each open
  // element declared: no object per scope (vcsim declares a prefix on every `<val>`).
  private readonly prefixes: string[] = ['xml', 'xmlns'];
  private readonly uris: string[] = [XML_NS, XMLNS_NS];
  private readonly declared: number[] = [];
  private rootSeen = false;
  private started = false;
  /** A chunk ended in CR: it is a line end whatever follows, but `\r\n` must become one `\n`. */
  private pendingCr = false;
  private readonly rawNames: string[] = [];
  private readonly rawValues: string[] = [];
  /** The current open tag's attributes other than `xmlns` declarations, resolved. */
  attributeCount = 0;
  readonly attributeUri: string[] = [];
  readonly attributeLocal: string[] = [];
  readonly attributeValue: string[] = [];

  /** A fast reader of whole `<objects>` elements (see `ResponseBuilder.objectsAt`). */
  objects: ((s: string, lt: number, final: boolean) => number) | undefined;

  constructor(private readonly handler: ScanHandler) {}

  /** The namespace URI `prefix` is bound to in the current element (`''`: the default). */
  resolve(prefix: string): string | undefined {
    const prefixes = this.prefixes;
    for (let index = prefixes.length - 1; index >= 0; index--) {
      if (prefixes[index] === prefix) return this.uris[index];
    }
    return undefined;
  }

  private endElement(): void {
    this.unbind();
    this.handler.close();
  }

  /** Drops the namespace bindings the element being closed declared. */
  private unbind(): void {
    for (let declared = this.declared.pop() ?? 0; declared > 0; declared--) {
      this.prefixes.pop();
      this.uris.pop();
    }
  }

  write(chunk: string): void {
    let text = chunk;
    if (this.pendingCr) {
      text = `\r${text}`;
      this.pendingCr = false;
    }
    // End-of-line handling (XML 1.0 §2.11): `\r\n` and a lone `\r` are read as `\n`.
    if (text.includes('\r')) {
      if (text.endsWith('\r')) {
        text = text.slice(0, -1);
        this.pendingCr = true;
      }
      text = text.replace(/\r\n?/g, '\n');
    }
    this.buffer = this.buffer === '' ? text : this.buffer + text;
    this.scan(false);
  }

  close(): void {
    if (this.pendingCr) {
      this.pendingCr = false;
      this.buffer += '\n';
    }
    this.scan(true);
    if (this.buffer !== '') throw new Error('unexpected end of input inside markup');
    if (this.names.length > 0) throw new Error(`unclosed tag <${this.names.at(-1)}>`);
    if (!this.rootSeen) throw new Error('document has no root element');
  }

  private scan(final: boolean): void {
    const s = this.buffer;
    const n = s.length;
    let pos = 0;
    while (pos < n) {
      const lt = s.indexOf('<', pos);
      if (lt === -1) {
        // Text runs to the next tag; keep it whole (an entity may be split) unless input ended.
        if (final) {
          this.textOut(s.slice(pos));
          pos = n;
        }
        break;
      }
      if (lt > pos) this.textOut(s.slice(pos, lt));
      pos = lt;
      if (lt + 1 >= n) break;
      const next = s.charCodeAt(lt + 1);
      let end: number;
      const innermost = this.names[this.names.length - 1];
      if (
        next === 0x2f /* / */ &&
        innermost !== undefined &&
        s.startsWith(innermost, lt + 2) &&
        s.charCodeAt(lt + 2 + innermost.length) === 0x3e /* > */
      ) {
        // The usual close tag `</name>`, matched without slicing it out.
        this.names.pop();
        this.endElement();
        end = lt + 3 + innermost.length;
      } else if (next === 0x2f /* / */) {
        const gt = s.indexOf('>', lt + 2);
        if (gt === -1) break;
        const name = s.slice(lt + 2, gt).trimEnd();
        const open = this.names.pop();
        if (open !== name) {
          throw new Error(
            open === undefined
              ? `unexpected close tag </${name}>`
              : `close tag </${name}> does not match <${open}>`,
          );
        }
        this.endElement();
        end = gt + 1;
      } else if (next === 0x3f /* ? */) {
        const close = s.indexOf('?>', lt + 2);
        if (close === -1) break;
        const target = /^[^\s?]*/.exec(s.slice(lt + 2, close))?.[0] ?? '';
        if (target.toLowerCase() === 'xml') {
          if (this.started) {
            throw new Error('XML declaration allowed only at the start of the document');
          }
          if (!XML_DECLARATION.test(s.slice(lt, close + 2))) {
            throw new Error('malformed XML declaration');
          }
        }
        end = close + 2;
      } else if (next === 0x21 /* ! */) {
        if (s.startsWith('<!--', lt)) {
          const close = s.indexOf('-->', lt + 4);
          if (close === -1) break;
          end = close + 3;
        } else if (s.startsWith('<![CDATA[', lt)) {
          const close = s.indexOf(']]>', lt + 9);
          if (close === -1) break;
          if (this.names.length === 0) throw new Error('CDATA outside the root element');
          this.handler.text(s.slice(lt + 9, close));
          end = close + 3;
        } else if (n - lt < 9) {
          break;
        } else {
          throw new Error('DOCTYPE and other declarations are not allowed');
        }
      } else {
        // `<objects>` of a property collector result, read whole by the builder when it has the
        // common shape (-1: it has not, read it here; -2: wait until it is all in the buffer).
        end = next === 0x6f /* o */ && this.objects !== undefined ? this.objects(s, lt, final) : -1;
        if (end === -2) break;
        if (end === -1) {
          end = this.openTag(s, lt);
          if (end === -1) break;
        }
      }
      this.started = true;
      pos = end;
    }
    this.buffer = pos === 0 ? s : s.slice(pos);
  }

  private textOut(text: string): void {
    if (this.names.length === 0) {
      if (/\S/.test(text)) throw new Error('text outside the root element');
      return;
    }
    this.started = true;
    this.handler.text(decodeEntities(text));
  }

  /** Parses the open tag at `lt`; returns the index after it, or -1 when it is incomplete. */
  private openTag(s: string, lt: number): number {
    const n = s.length;
    let j = lt + 1;
    while (j < n) {
      const code = s.charCodeAt(j);
      if (isSpace(code) || code === 0x2f || code === 0x3e) break;
      j++;
    }
    if (j >= n) return -1;
    const qname = s.slice(lt + 1, j);
    if (qname === '' || qname.includes('<')) throw new Error('malformed open tag');
    let count = 0;
    let selfClosing = false;
    for (;;) {
      const before = j;
      while (j < n && isSpace(s.charCodeAt(j))) j++;
      if (j >= n) return -1;
      const code = s.charCodeAt(j);
      if (code === 0x3e /* > */) {
        j++;
        break;
      }
      if (code === 0x2f /* / */) {
        if (j + 1 >= n) return -1;
        if (s.charCodeAt(j + 1) !== 0x3e) throw new Error(`malformed tag <${qname}>`);
        selfClosing = true;
        j += 2;
        break;
      }
      if (j === before) throw new Error(`no space before an attribute of <${qname}>`);
      // The name runs to `=` (found with indexOf, then checked: no space, `<`, `>` or `/` in it).
      let k = s.indexOf('=', j);
      if (k === -1) {
        // Incomplete: the name, maybe followed by the spaces before a `=` still to come.
        if (ATTRIBUTE_NAME_END.test(s.slice(j).trimEnd())) {
          throw new Error(`malformed tag <${qname}>`);
        }
        return -1;
      }
      const name = s.slice(j, k).trimEnd();
      if (name === '' || ATTRIBUTE_NAME_END.test(name)) {
        throw new Error(`malformed attribute in <${qname}>`);
      }
      k++;
      while (k < n && isSpace(s.charCodeAt(k))) k++;
      if (k >= n) return -1;
      const quote = s.charCodeAt(k);
      if (quote !== 0x22 && quote !== 0x27) throw new Error(`unquoted attribute ${name}`);
      const close = s.indexOf(quote === 0x22 ? '"' : "'", k + 1);
      if (close === -1) return -1;
      const raw = s.slice(k + 1, close);
      if (raw.includes('<')) throw new Error(`'<' in the value of attribute ${name}`);
      this.rawNames[count] = name;
      // Attribute-value normalization (XML 1.0 §3.3.3): a literal tab or line end is a space;
      // one written as a character reference stays.
      this.rawValues[count] = decodeEntities(
        raw.includes('\n') || raw.includes('\t') ? raw.replace(/[\n\t]/g, ' ') : raw,
      );
      count++;
      j = close + 1;
    }

    if (this.rootSeen && this.names.length === 0) throw new Error('more than one root element');
    let declared = 0;
    for (let index = 0; index < count; index++) {
      const name = this.rawNames[index] as string;
      if (name === 'xmlns' || name.startsWith('xmlns:')) {
        this.prefixes.push(name === 'xmlns' ? '' : name.slice(6));
        this.uris.push(this.rawValues[index] as string);
        declared++;
      }
    }
    this.declared.push(declared);
    let attributes = 0;
    for (let index = 0; index < count; index++) {
      const name = this.rawNames[index] as string;
      if (name === 'xmlns' || name.startsWith('xmlns:')) continue;
      const colon = name.indexOf(':');
      let uri = '';
      if (colon !== -1) {
        const bound = this.resolve(name.slice(0, colon));
        if (bound === undefined) throw new Error(`unbound namespace prefix in ${name}`);
        uri = bound;
      }
      this.attributeUri[attributes] = uri;
      this.attributeLocal[attributes] = colon === -1 ? name : name.slice(colon + 1);
      this.attributeValue[attributes] = this.rawValues[index] as string;
      attributes++;
    }
    this.attributeCount = attributes;
    const colon = qname.indexOf(':');
    const uri = this.resolve(colon === -1 ? '' : qname.slice(0, colon));
    if (uri === undefined && colon !== -1) throw new Error(`unbound namespace prefix in ${qname}`);

    this.rootSeen = true;
    this.started = true;
    const local = colon === -1 ? qname : qname.slice(colon + 1);
    if (!selfClosing) {
      // Most vim25 elements are leaves: `<tag …>text</tag>` in one step when it is all here.
      const lt = s.indexOf('<', j);
      if (
        lt !== -1 &&
        s.charCodeAt(lt + 1) === 0x2f &&
        s.startsWith(qname, lt + 2) &&
        s.charCodeAt(lt + 2 + qname.length) === 0x3e
      ) {
        this.handler.leaf(local, uri ?? '', decodeEntities(s.slice(j, lt)));
        this.unbind();
        return lt + 3 + qname.length;
      }
    }
    this.names.push(qname);
    this.handler.open(local, uri ?? '');
    if (selfClosing) {
      this.names.pop();
      this.endElement();
    }
    return j;
  }
}

/**
 * The streaming core: scanner events in, plain values out. Only the element being built is held;
 * `objects` elements under a property collector result go to `onObject` as they close, so a
 * 5,000-VM result never becomes one tree.
 */
class ResponseBuilder {
  private readonly parser: XmlScanner;
  private readonly stack: Frame[] = [];
  element: string | undefined;
  returnval: unknown[] = [];
  fault: SoapFault | undefined;
  token: string | undefined;

  constructor(private readonly onObject?: (content: ObjectContent) => void) {
    this.parser = new XmlScanner({
      open: (local, uri) => this.open(local, uri),
      close: () => this.close(),
      text: (text) => this.text(text),
      leaf: (local, uri, text) => this.leaf(local, uri, text),
    });
    if (onObject !== undefined)
      this.parser.objects = (s, lt, final) => this.objectsAt(s, lt, final);
  }

  /**
   * The fast path of a listing: an `<objects>` element of a property collector result read in one
   * step into its {@link ObjectContent}, without frames, attribute arrays or namespace scopes,
   * when it has the shape vCenter and vcsim send for scalar properties: `<obj type="T">v</obj>`
   * and `<propSet><name>p</name><val …>text</val></propSet>` (the `val` carrying namespace
   * declarations, an `xsi:type` and/or a moref `type`). Anything else in it (a `missingSet`, a
   * `val` with child elements, other attributes' entities, odd spacing) returns -1 and the
   * general path reads the element instead, with the same result: this only ever accepts what
   * that path reads, and builds the same values (`frameValue`, `toObjectContent`). Returns the
   * index after `</objects>`, -1, or -2 when the element is not all in the buffer yet.
   */
  private objectsAt(s: string, lt: number, final: boolean): number {
    const stack = this.stack;
    if (stack.length !== 4 || stack[3]?.name !== 'returnval' || !s.startsWith('<objects>', lt)) {
      return -1;
    }
    let content: ObjectContent | undefined;
    this.xsdPrefixUri = null;
    try {
      content = this.readObjects(s, lt + 9);
    } catch {
      content = undefined; // an undefined entity: the general path refuses it in order
    }
    if (content === undefined) {
      // Not the usual shape, or not all here yet: wait for the rest of a usual-sized object
      // (read again then); a huge one, or one that is all here, goes the general way.
      if (final || s.length - lt > 65_536 || s.indexOf('</objects>', lt + 9) !== -1) return -1;
      return -2;
    }
    (stack[3] as Frame).text = '';
    this.onObject?.(content);
    return this.objectsEnd;
  }

  /** Property names of the previous object, by position (see {@link readObjects}). */
  private readonly names: string[] = [];

  /** Where the last element {@link readObjects} read ends (after `</objects>`). */
  private objectsEnd = 0;

  /** The inside of `<objects>` from `start` as {@link ObjectContent}, or undefined. */
  private readObjects(s: string, start: number): ObjectContent | undefined {
    const end = s.length;
    let obj: ManagedObjectReference | undefined;
    const properties: Record<string, unknown> = {};
    let count = 0;
    let p = start;
    for (;;) {
      while (p < end && isSpace(s.charCodeAt(p))) p++;
      if (s.startsWith('<propSet><name>', p)) {
        p += 15;
        const nameEnd = s.indexOf('<', p);
        if (nameEnd === -1 || !s.startsWith('</name><val', nameEnd)) return undefined;
        // Every object of a listing names the same paths in the same order: the previous
        // object's string at this place, when it is the same text, instead of a new one.
        const known = this.names[count];
        let name: string;
        if (known !== undefined && known.length === nameEnd - p && s.startsWith(known, p)) {
          name = known;
        } else {
          name = leafText(s, p, nameEnd);
          if (count < 64 && !name.includes('&')) this.names[count] = name;
        }
        count++;
        p = this.readVal(s, nameEnd + 11, end);
        if (p === -1 || !s.startsWith('</propSet>', p)) return undefined;
        p += 10;
        properties[name] = this.value;
      } else if (s.startsWith('</objects>', p)) {
        if (obj === undefined) return undefined;
        this.objectsEnd = p + 10;
        return { obj, properties, missing: [] };
      } else if (obj === undefined && s.startsWith('<obj type="', p)) {
        const quote = s.indexOf('"', p + 11);
        if (quote === -1 || s.charCodeAt(quote + 1) !== 0x3e /* > */) return undefined;
        const type = s.slice(p + 11, quote);
        if (!plainAttribute(type)) return undefined;
        const textEnd = s.indexOf('<', quote + 2);
        if (textEnd === -1 || !s.startsWith('</obj>', textEnd)) return undefined;
        obj = { type, value: leafText(s, quote + 2, textEnd) };
        p = textEnd + 6;
      } else {
        return undefined;
      }
    }
  }

  /** {@link readVal}'s result. */
  private value: unknown;
  // Namespace declarations of the `<val>` being read: prefix start and end, URI. At most four
  // (more: the general path).
  private readonly declStart: number[] = [0, 0, 0, 0];
  private readonly declEnd: number[] = [0, 0, 0, 0];
  private readonly declUri: string[] = ['', '', '', ''];
  private readonly typeStart: number[] = [0, 0];
  private readonly typeEnd: number[] = [0, 0];
  private readonly typeColon: number[] = [0, 0];
  /** What `xsd` is bound to around the current `<objects>` (resolved once per element). */
  private xsdPrefixUri: string | undefined | null = null;

  /**
   * A `<val …>text</val>` whose attributes start at `p` (just after `<val`): sets
   * {@link value} and returns the index after `</val>`, or -1 for anything unusual.
   */
  private readVal(s: string, p: number, end: number): number {
    // vcsim's spelling, every time: the XSI prefix declared on the `val` itself, then its type.
    if (s.startsWith(VCSIM_VAL, p)) {
      const typeStart = p + VCSIM_VAL.length;
      const typeEnd = s.indexOf('"', typeStart);
      if (typeEnd !== -1 && typeEnd < end && s.charCodeAt(typeEnd + 1) === 0x3e /* > */) {
        if (!plainValue(s, typeStart, typeEnd)) return -1;
        this.declStart[0] = p + 7;
        this.declEnd[0] = p + 25;
        this.declUri[0] = XSI;
        return this.valText(s, typeStart, typeEnd, 1, undefined, typeEnd + 2, end);
      }
    }
    let decls = 0;
    let types = 0;
    let morefType: string | undefined;
    for (;;) {
      const before = p;
      while (p < end && isSpace(s.charCodeAt(p))) p++;
      if (p >= end) return -1;
      if (s.charCodeAt(p) === 0x3e /* > */) {
        p++;
        break;
      }
      if (p === before) return -1;
      // The name: up to `=`, no space, quote, `<`, `>` or `/`; at most one colon, not at an end.
      const nameStart = p;
      let colon = -1;
      for (;;) {
        if (p >= end) return -1;
        const code = s.charCodeAt(p);
        if (code === 0x3d /* = */) break;
        if (code === 0x3a /* : */) {
          if (colon !== -1) return -1;
          colon = p;
        } else if (
          isSpace(code) ||
          code === 0x22 ||
          code === 0x27 ||
          code === 0x3c ||
          code === 0x3e ||
          code === 0x2f
        ) {
          return -1;
        }
        p++;
      }
      const nameEnd = p;
      if (nameEnd === nameStart || colon === nameStart || colon === nameEnd - 1) return -1;
      if (s.charCodeAt(p + 1) !== 0x22 /* " */) return -1;
      const valueStart = p + 2;
      const valueEnd = s.indexOf('"', valueStart);
      if (valueEnd === -1 || valueEnd >= end) return -1;
      p = valueEnd + 1;
      const length = nameEnd - nameStart;
      if (colon === nameStart + 5 && s.startsWith('xmlns', nameStart)) {
        const uri = namespaceOf(s, valueStart, valueEnd);
        if (uri === undefined || decls === 4) return -1;
        this.declStart[decls] = colon + 1;
        this.declEnd[decls] = nameEnd;
        this.declUri[decls] = uri;
        decls++;
      } else if (length === 5 && s.startsWith('xmlns', nameStart)) {
        const uri = namespaceOf(s, valueStart, valueEnd);
        if (uri === undefined || decls === 4) return -1;
        this.declStart[decls] = nameStart;
        this.declEnd[decls] = nameStart; // the default namespace: an empty prefix
        this.declUri[decls] = uri;
        decls++;
      } else if (!plainValue(s, valueStart, valueEnd)) {
        return -1;
      } else if (colon !== -1) {
        // Checked after all declarations are read (a later one binds it too): `P:type`, or
        // any other prefixed attribute, whose prefix must be bound.
        if (types === 2) return -1;
        this.typeStart[types] = nameStart;
        this.typeColon[types] = colon;
        this.typeEnd[types] = valueEnd;
        types++;
      } else if (length === 4 && s.startsWith('type', nameStart)) {
        morefType = s.slice(valueStart, valueEnd);
      }
    }
    let typeStart = -1;
    let typeEnd = -1;
    for (let index = 0; index < types; index++) {
      const colon = this.typeColon[index] as number;
      const uri = this.resolveAt(s, this.typeStart[index] as number, colon, decls);
      if (uri === undefined) return -1;
      // `P:type="…"` with P bound to XSI (the name ends at its `=`, the value's quote follows).
      if (uri !== XSI || !s.startsWith('type="', colon + 1)) continue;
      typeStart = colon + 7;
      typeEnd = this.typeEnd[index] as number;
    }
    return this.valText(s, typeStart, typeEnd, decls, morefType, p, end);
  }

  /**
   * The text of the `<val>` at `p` and its value as `frameValue` makes it for a leaf `val` (not
   * an item; `val` is no SCALAR_FIELDS name), its `xsi:type` value at `typeStart` (-1: none).
   */
  private valText(
    s: string,
    typeStart: number,
    typeEnd: number,
    decls: number,
    morefType: string | undefined,
    p: number,
    end: number,
  ): number {
    const textEnd = s.indexOf('<', p);
    if (textEnd === -1 || textEnd >= end || !s.startsWith('</val>', textEnd)) return -1;
    const text = leafText(s, p, textEnd);
    if (typeStart === -1) {
      this.value = morefType === undefined ? text : { type: morefType, value: text };
      return textEnd + 6;
    }
    // `Q:local`, or `local` in the default namespace.
    let colon = s.indexOf(':', typeStart);
    if (colon >= typeEnd) colon = -1;
    const local = colon === -1 ? typeStart : colon + 1;
    const xsd = this.resolveAt(s, typeStart, colon === -1 ? typeStart : colon, decls) === XSD;
    if (!xsd && s.startsWith('ArrayOf', local) && typeEnd - local >= 7) this.value = [];
    else if (morefType !== undefined) this.value = { type: morefType, value: text };
    else if (xsd) this.value = scalar(text, xsdKindAt(s, local, typeEnd));
    else this.value = text === '' ? { $type: s.slice(local, typeEnd) } : text;
    return textEnd + 6;
  }

  /** The URI of the prefix `s[start, end)` in the `<val>` being read (`''`: the default). */
  private resolveAt(s: string, start: number, end: number, decls: number): string | undefined {
    const length = end - start;
    for (let index = decls - 1; index >= 0; index--) {
      const declStart = this.declStart[index] as number;
      if ((this.declEnd[index] as number) - declStart !== length) continue;
      if (sameText(s, start, declStart, length)) return this.declUri[index] as string;
    }
    if (length === 3 && s.startsWith('xsd', start)) {
      if (this.xsdPrefixUri === null) this.xsdPrefixUri = this.parser.resolve('xsd');
      return this.xsdPrefixUri;
    }
    return this.parser.resolve(s.slice(start, end));
  }

  write(text: string): void {
    this.parser.write(text);
  }

  end(): void {
    this.parser.close();
  }

  private open(local: string, uri: string): void {
    const parent = this.stack.at(-1);
    const frame: Frame = {
      name: local,
      uri,
      xsiType: undefined,
      xsdType: false,
      morefType: undefined,
      ownerType: undefined,
      arrayOf: false,
      item: false,
      text: '',
      fields: undefined,
      repeated: undefined,
      items: undefined,
    };
    this.describe(frame, parent);
    this.stack.push(frame);
    if (parent !== undefined) parent.text = '';
  }

  /**
   * A leaf element (`<name>x</name>`, `<val …>x</val>`) in one step, in a frame reused for every
   * leaf: a leaf's value never holds its frame, and leaves are most of a listing's elements.
   */
  private leaf(local: string, uri: string, text: string): void {
    const parent = this.stack.at(-1);
    const frame = this.leafFrame;
    frame.name = local;
    frame.uri = uri;
    frame.text = text;
    this.describe(frame, parent);
    if (parent !== undefined) parent.text = '';
    this.finish(frame);
  }

  private readonly leafFrame: Frame = {
    name: '',
    uri: '',
    xsiType: undefined,
    xsdType: false,
    morefType: undefined,
    ownerType: undefined,
    arrayOf: false,
    item: false,
    text: '',
    fields: undefined,
    repeated: undefined,
    items: undefined,
  };

  /** Sets a frame's type fields from the current tag's attributes. */
  private describe(frame: Frame, parent: Frame | undefined): void {
    const local = frame.name;
    let xsiType: string | undefined;
    let xsdType = false;
    let morefType: string | undefined;
    const parser = this.parser;
    for (let index = 0; index < parser.attributeCount; index++) {
      if (parser.attributeLocal[index] !== 'type') continue;
      const attributeUri = parser.attributeUri[index];
      const value = parser.attributeValue[index] as string;
      // Resolved by namespace URI: vCenter writes `xsi:type`, vcsim `XMLSchema-instance:type`.
      if (attributeUri === XSI) {
        const colon = value.indexOf(':');
        const prefix = colon === -1 ? '' : value.slice(0, colon);
        xsiType = value.slice(colon + 1);
        xsdType = parser.resolve(prefix) === XSD;
      } else if (attributeUri === '') {
        morefType = value;
      }
    }
    const item = parent?.arrayOf === true;
    frame.xsiType = xsiType;
    frame.xsdType = xsdType;
    frame.morefType = morefType;
    frame.ownerType = xsiType !== undefined && !xsdType ? xsiType : item ? local : undefined;
    frame.arrayOf = xsiType !== undefined && !xsdType && xsiType.startsWith('ArrayOf');
    frame.item = item;
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
    if (frame !== undefined) this.finish(frame);
  }

  /** A closed element: its value handed to the envelope logic or attached to its parent. */
  private finish(frame: Frame): void {
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

/** How vcsim opens every `<val>` after `<val`: the XSI prefix declared, then `…:type="`. */
const VCSIM_VAL = ` xmlns:XMLSchema-instance="${XSI}" XMLSchema-instance:type="`;

/** The XSD local names {@link xsdKind} tells apart, the common first. */
const XSD_KINDS: readonly (readonly [string, 'number' | 'boolean'])[] = [
  ...[...NUMERIC_XSD].map((name) => [name, 'number'] as const),
  ['boolean', 'boolean'],
];

/** {@link xsdKind} of the local name `s[start, end)`, without slicing it out. */
function xsdKindAt(s: string, start: number, end: number): 'number' | 'boolean' | 'string' {
  const length = end - start;
  if (length === 6 && s.startsWith('string', start)) return 'string';
  for (const [name, kind] of XSD_KINDS) {
    if (name.length === length && s.startsWith(name, start)) return kind;
  }
  return 'string';
}

/** Text of a leaf, entities decoded (throws on an undefined one, as the general path does). */
function leafText(s: string, start: number, end: number): string {
  const text = s.slice(start, end);
  return text.includes('&') ? decodeEntities(text) : text;
}

/** True for an attribute value that reads as written: no entity, `<`, tab or line end. */
function plainAttribute(value: string): boolean {
  return !/[&<\t\n]/.test(value);
}

function plainValue(s: string, start: number, end: number): boolean {
  for (let index = start; index < end; index++) {
    const code = s.charCodeAt(index);
    if (code === 0x26 || code === 0x3c || code === 0x09 || code === 0x0a) return false;
  }
  return true;
}

/**
 * A namespace declaration's URI: the two vim25 uses without a copy, others sliced; undefined
 * for one with an entity, tab or line end (the general path reads those).
 */
function namespaceOf(s: string, start: number, end: number): string | undefined {
  const length = end - start;
  if (length === XSI.length && s.startsWith(XSI, start)) return XSI;
  if (length === XSD.length && s.startsWith(XSD, start)) return XSD;
  return plainValue(s, start, end) ? s.slice(start, end) : undefined;
}

/** True when `s[a, a + length)` and `s[b, b + length)` are the same text. */
function sameText(s: string, a: number, b: number, length: number): boolean {
  for (let index = 0; index < length; index++) {
    if (s.charCodeAt(a + index) !== s.charCodeAt(b + index)) return false;
  }
  return true;
}

/**
 * How many bytes at the end of `bytes` begin a UTF-8 sequence that the next chunk completes (0
 * when the chunk ends on a character boundary or with something that is not such a start).
 */
function incompleteTail(bytes: Uint8Array): number {
  const length = bytes.length;
  for (let back = 1; back <= 3 && back <= length; back++) {
    const byte = bytes[length - back] as number;
    if ((byte & 0xc0) === 0x80) continue; // a continuation byte: look further back
    const need = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    return need > back ? back : 0;
  }
  return 0;
}

/**
 * The body as text, chunk by chunk, refusing bytes that are not UTF-8 (as a fatal `TextDecoder`
 * does). Each chunk is checked with `isUtf8` and decoded by `Buffer` (simdutf: about four times
 * faster than `TextDecoder` in stream mode on a 7.5 MB listing), a sequence cut at a chunk's end
 * carried over to the next; anything else (bytes that are not UTF-8, a first chunk too short
 * to tell a byte-order mark) goes through `TextDecoder` from there on, which reads or refuses it.
 */
async function* decode(body: SoapBody): AsyncGenerator<string> {
  if (typeof body === 'string') {
    yield body;
    return;
  }
  let decoder: InstanceType<typeof TextDecoder> | undefined;
  let pending: Uint8Array | undefined;
  let first = true;
  for await (const chunk of body) {
    if (decoder === undefined) {
      let bytes = pending === undefined ? chunk : Buffer.concat([pending, chunk]);
      pending = undefined;
      if (first && bytes.length < 3) {
        decoder = new TextDecoder('utf-8', { fatal: true });
      } else {
        // TextDecoder drops a leading byte-order mark.
        if (first && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) {
          bytes = bytes.subarray(3);
        }
        first = false;
        const tail = incompleteTail(bytes);
        const whole = tail === 0 ? bytes : bytes.subarray(0, bytes.length - tail);
        if (isUtf8(whole)) {
          if (tail > 0) pending = Uint8Array.prototype.slice.call(bytes, bytes.length - tail);
          const text = Buffer.from(whole.buffer, whole.byteOffset, whole.byteLength).toString(
            'utf8',
          );
          if (text !== '') yield text;
          continue;
        }
        decoder = new TextDecoder('utf-8', { fatal: true });
      }
      const text = decoder.decode(bytes, { stream: true });
      if (text !== '') yield text;
      continue;
    }
    const text = decoder.decode(chunk, { stream: true });
    if (text !== '') yield text;
  }
  // A sequence still cut at the end: not UTF-8, refused as TextDecoder refuses it.
  const rest = (decoder ?? new TextDecoder('utf-8', { fatal: true })).decode(pending);
  if (rest !== '') yield rest;
}

function checkEnvelope(builder: ResponseBuilder, context: FaultContext): void {
  if (builder.fault === undefined && builder.element === undefined) {
    throw malformed(new Error('no SOAP Body content'), context);
  }
}

/**
 * Parses a whole vim25 response (string or byte chunks, decoded incrementally) into plain
 * values: `xsi:type` resolved by namespace URI in either spelling, data objects carry `$type`,
 * `ArrayOf…` wrappers become arrays, morefs `{ type, value }`, XSD numbers and booleans typed,
 * `dateTime` kept as the string sent. A SOAP fault is returned, not thrown.
 *
 * @throws ProviderApiError when the body is not well-formed XML or not a SOAP envelope.
 */
export async function parseSoapResponse(
  body: SoapBody,
  context: FaultContext = {},
): Promise<SoapResponse> {
  const builder = new ResponseBuilder();
  try {
    for await (const text of decode(body)) builder.write(text);
    builder.end();
  } catch (error) {
    throw malformed(error, context);
  }
  checkEnvelope(builder, context);
  if (builder.fault !== undefined) return { kind: 'fault', fault: builder.fault };
  return { kind: 'result', element: builder.element ?? '', returnval: builder.returnval };
}

/** Folds a parsed `ObjectContent` (`obj`, `propSet[]`, `missingSet[]`) into {@link ObjectContent}. */
export function toObjectContent(value: unknown): ObjectContent {
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

/**
 * Objects of a `RetrievePropertiesEx` / `ContinueRetrievePropertiesEx` response, one by one as
 * their elements close, with constant extra memory per chunk. `token` holds the paging token as
 * soon as it was read (undefined on the last page).
 */
export interface RetrieveResultStream extends AsyncIterable<ObjectContent> {
  readonly token: string | undefined;
}

/**
 * Streams the objects of a property collector result (see {@link RetrieveResultStream}).
 * Iterating throws the mapped core error for a SOAP fault (see `soapFaultToError`) and a
 * ProviderApiError for malformed XML.
 */
export function streamRetrieveResult(
  body: SoapBody,
  context: FaultContext = {},
): RetrieveResultStream {
  let builder: ResponseBuilder | undefined;
  async function* iterate(): AsyncGenerator<ObjectContent> {
    const ready: ObjectContent[] = [];
    const current = new ResponseBuilder((content) => ready.push(content));
    builder = current;
    const drain = function* (): Generator<ObjectContent> {
      for (const content of ready) yield content;
      ready.length = 0;
    };
    try {
      for await (const text of decode(body)) {
        current.write(text);
        yield* drain();
      }
      current.end();
    } catch (error) {
      throw malformed(error, context);
    }
    yield* drain();
    checkEnvelope(current, context);
    if (current.fault !== undefined) throw soapFaultToError(current.fault, context);
  }
  return {
    // Live: vCenter sends the token before the objects, so a reader that stops early can still
    // cancel the rest (CancelRetrievePropertiesEx).
    get token() {
      return builder?.token;
    },
    [Symbol.asyncIterator]: iterate,
  };
}
