/**
 * A small reader for the XML libvirt prints (`dumpxml`, `snapshot-dumpxml`, `vol-dumpxml`,
 * `pool-dumpxml`, `net-dumpxml`, capabilities): the whole document into a tree of elements with
 * their attributes and text, which the mappers then walk.
 *
 * Built on `saxes`, a strict, non-validating XML 1.0 + namespaces parser: it refuses documents
 * that are not well-formed instead of guessing, resolves only the five predefined entities and
 * character references (so no entity expansion attack), and reports namespace URIs, which hvkit's
 * `<metadata>` is matched by (the prefix is whatever the writer chose). A `<!DOCTYPE>` is refused:
 * libvirt never prints one.
 */
import { ProviderApiError } from '@hvkit/core';
import { SaxesParser } from 'saxes';

/** An element as read: names, attributes, child elements in document order, and its text. */
export interface XmlElement {
  /** Local name (`tags` of `<hvkit:tags>`). */
  readonly name: string;
  /** Namespace URI; `''` for none (all of libvirt's own elements). */
  readonly uri: string;
  /**
   * Attributes by qualified name as written (`type`, `xml:lang`); namespace declarations are left
   * out. A null-prototype record, so `attributes.constructor` is undefined.
   */
  readonly attributes: Readonly<Record<string, string>>;
  readonly children: readonly XmlElement[];
  /** The concatenated text directly inside this element (not its descendants), as written. */
  readonly text: string;
}

/** Documents larger than this are refused: libvirt's are a few KiB (a 200-domain batch ~ 333 KB). */
const MAX_LENGTH = 32 * 1024 * 1024;
/** Deeper nesting than this is refused (libvirt's documents nest about 6 levels). */
const MAX_DEPTH = 256;

interface Building {
  name: string;
  uri: string;
  attributes: Record<string, string>;
  children: XmlElement[];
  text: string;
}

function malformed(what: string, message: string): ProviderApiError {
  return new ProviderApiError(`libvirt returned ${what} that is not well-formed XML: ${message}`, {
    fault: 'xml-parse',
  });
}

/** Options of {@link parseXml}. */
export interface ParseXmlOptions {
  /** Names the document in errors (`dumpxml of 'vm1'`). Default `a document`. */
  what?: string;
  /**
   * Keep literal CR characters as data instead of letting the parser turn CR and CRLF into LF
   * (XML 1.0 end-of-line handling). Default true, because libvirt writes its own text elements
   * (`<description>`, `<title>`) with CR unescaped: measured on libvirt 9.0, a description sent
   * as `a&#13;&#10;b` is printed as `a` CR LF `b`, and a conforming parser would return `a` LF `b`.
   * libvirt formats documents with LF only, so a literal CR is always content. (libxml2, which
   * writes `<metadata>`, escapes it as `&#13;`, which reads the same either way.)
   */
  preserveCarriageReturns?: boolean;
}

/**
 * Parses one XML document into its root element.
 *
 * @param options.what names the document in errors (`dumpxml of 'vm1'`).
 * @throws ProviderApiError (`fault: 'xml-parse'`) when the document is not well-formed, has a
 *   DOCTYPE, several roots or none, or exceeds the size or depth limits.
 */
export function parseXml(xml: string, options: ParseXmlOptions = {}): XmlElement {
  const what = options.what ?? 'a document';
  if (xml.length > MAX_LENGTH) throw malformed(what, `longer than ${MAX_LENGTH} characters`);
  const parser = new SaxesParser({ xmlns: true, position: true });
  const stack: Building[] = [];
  let root: XmlElement | undefined;
  let failure: Error | undefined;

  parser.on('error', (error) => {
    failure ??= error;
  });
  parser.on('doctype', () => {
    failure ??= new Error('a DOCTYPE is not accepted');
  });
  parser.on('opentag', (tag) => {
    if (stack.length >= MAX_DEPTH) {
      failure ??= new Error(`nested deeper than ${MAX_DEPTH}`);
      return;
    }
    const attributes: Record<string, string> = Object.create(null);
    for (const attribute of Object.values(tag.attributes)) {
      if (attribute.prefix === 'xmlns' || attribute.name === 'xmlns') continue;
      attributes[attribute.name] = attribute.value;
    }
    stack.push({ name: tag.local, uri: tag.uri, attributes, children: [], text: '' });
  });
  parser.on('text', (chunk) => {
    const top = stack[stack.length - 1];
    if (top !== undefined) top.text += chunk;
  });
  parser.on('cdata', (chunk) => {
    const top = stack[stack.length - 1];
    if (top !== undefined) top.text += chunk;
  });
  parser.on('closetag', () => {
    const done = stack.pop();
    if (done === undefined) return;
    const node: XmlElement = done;
    const parent = stack[stack.length - 1];
    if (parent !== undefined) parent.children.push(node);
    else root = node;
  });

  try {
    const source = (options.preserveCarriageReturns ?? true) ? xml.replaceAll('\r', '&#13;') : xml;
    parser.write(source).close();
  } catch (error) {
    // saxes throws from write/close when the error handler does not; keep the first message.
    failure ??= error instanceof Error ? error : new Error(String(error));
  }
  if (failure !== undefined) throw malformed(what, failure.message);
  if (root === undefined) throw malformed(what, 'no root element');
  return root;
}

/** The first child element named `name` (in namespace `uri`, default none). */
export function childOf(
  node: XmlElement | undefined,
  name: string,
  uri = '',
): XmlElement | undefined {
  return node?.children.find((child) => child.name === name && child.uri === uri);
}

/** Every child element named `name` (in namespace `uri`, default none), in document order. */
export function childrenOf(node: XmlElement | undefined, name: string, uri = ''): XmlElement[] {
  return node?.children.filter((child) => child.name === name && child.uri === uri) ?? [];
}

/** The element at a path of child names (`['os', 'type']`), or undefined. */
export function pathOf(node: XmlElement | undefined, ...names: string[]): XmlElement | undefined {
  let current = node;
  for (const name of names) current = childOf(current, name);
  return current;
}

/** An attribute's value, or undefined when absent. */
export function attributeOf(node: XmlElement | undefined, name: string): string | undefined {
  if (node === undefined) return undefined;
  return Object.hasOwn(node.attributes, name) ? node.attributes[name] : undefined;
}

/** The text of the child `name`, or undefined when there is no such child. */
export function textOf(node: XmlElement | undefined, name: string): string | undefined {
  return childOf(node, name)?.text;
}
