/**
 * A tiny XML writer for libvirt documents. It can only emit escaped values: every attribute value
 * and every text node goes through {@link escapeXml} at render time, and element and attribute
 * names are checked against a strict pattern (names come from code, never from input). There is
 * no way to insert raw markup.
 *
 * Values can carry the input path they came from ({@link field}); a value XML cannot carry is
 * reported under that path, so `InvalidSpecError` names `description` rather than
 * `domain/description`. All such issues of one document are reported together.
 */
import { InvalidSpecError, type SpecIssue } from '@hvkit/core';
import { escapeXml, xmlCharacterIssue } from './xml-escape.js';

/** A value with the input path it came from (`tags.env`), for error messages. */
export interface FieldValue {
  readonly value: string;
  readonly field: string;
}

/** An attribute value: text, an integer, a value with its input path; `undefined` omits it. */
export type XmlAttributeValue = string | number | FieldValue | undefined;

/** A text node. Build it with {@link text} or pass a string or {@link FieldValue} as a child. */
export interface XmlText {
  readonly kind: 'text';
  readonly value: string;
  readonly field: string | undefined;
}

/** An element. Build it with {@link element}. */
export interface XmlElementNode {
  readonly kind: 'element';
  readonly name: string;
  readonly attributes: readonly (readonly [string, Exclude<XmlAttributeValue, undefined>])[];
  readonly children: readonly (XmlElementNode | XmlText)[];
}

/** What {@link element} takes as children: `undefined`, `false` and `null` are skipped. */
export type XmlChild =
  | XmlElementNode
  | XmlText
  | string
  | FieldValue
  | undefined
  | null
  | false
  | readonly XmlChild[];

// An XML Name restricted to ASCII, with at most one prefix: all libvirt and hvkit names fit.
const NAME = /^[A-Za-z_][A-Za-z0-9_.-]*(:[A-Za-z_][A-Za-z0-9_.-]*)?$/;

function checkName(name: string): void {
  // A bad name is a bug in the caller's code, not bad input: TypeError, not InvalidSpecError.
  if (!NAME.test(name)) throw new TypeError(`invalid XML name ${JSON.stringify(name)}`);
}

/** Tags `value` with the input path it came from, for error messages. */
export function field(value: string, path: string): FieldValue {
  return { value, field: path };
}

/** A text node; `path` names the input it came from. */
export function text(value: string, path?: string): XmlText {
  return { kind: 'text', value, field: path };
}

function isFieldValue(value: unknown): value is FieldValue {
  return typeof value === 'object' && value !== null && 'field' in value && 'value' in value;
}

function flatten(children: readonly XmlChild[], into: (XmlElementNode | XmlText)[]): void {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (typeof child === 'string') into.push(text(child));
    else if (Array.isArray(child)) flatten(child, into);
    else if (isFieldValue(child)) into.push(text(child.value, child.field));
    else into.push(child as XmlElementNode | XmlText);
  }
}

/**
 * An element with attributes (in the order given; `undefined` values are left out) and children.
 *
 * @throws TypeError for an element or attribute name outside `[A-Za-z_][A-Za-z0-9_.-]*` (with at
 *   most one `prefix:`), a number attribute that is not finite, or text mixed with elements.
 */
export function element(
  name: string,
  attributes: Readonly<Record<string, XmlAttributeValue>> = {},
  ...children: XmlChild[]
): XmlElementNode {
  checkName(name);
  const pairs: [string, Exclude<XmlAttributeValue, undefined>][] = [];
  for (const [key, value] of Object.entries(attributes)) {
    checkName(key);
    if (value === undefined) continue;
    if (typeof value === 'number' && !Number.isFinite(value))
      throw new TypeError(`attribute ${key} of <${name}> is not a finite number`);
    pairs.push([key, value]);
  }
  const nodes: (XmlElementNode | XmlText)[] = [];
  flatten(children, nodes);
  // libvirt documents have no mixed content, and indenting mixed content would change its text.
  if (nodes.some((node) => node.kind === 'text') && nodes.some((node) => node.kind === 'element'))
    throw new TypeError(`<${name}> mixes text and elements`);
  return { kind: 'element', name, attributes: pairs, children: nodes };
}

/** Rendering options. */
export interface RenderOptions {
  /** Subject of the `InvalidSpecError` (`spec`, `libvirt XML`). Default `spec`. */
  subject?: string;
  /** Indent nested elements by two spaces per level (libvirt's own style). Default true. */
  indent?: boolean;
}

/**
 * The document as a string (no XML declaration: libvirt reads UTF-8 without one).
 *
 * @throws InvalidSpecError listing every value XML cannot carry, each under its input path (or
 *   its position in the document, `domain/devices/disk[0]/source@file`, when it has none).
 */
export function renderXml(root: XmlElementNode, options: RenderOptions = {}): string {
  const issues: SpecIssue[] = [];
  const indent = options.indent ?? true;
  const out: string[] = [];

  const escaped = (value: string, path: string): string => {
    const issue = xmlCharacterIssue(value, path);
    if (issue !== undefined) {
      issues.push(issue);
      return '';
    }
    return escapeXml(value, path);
  };

  const write = (node: XmlElementNode, depth: number, position: string): void => {
    const pad = indent ? '  '.repeat(depth) : '';
    let open = `${pad}<${node.name}`;
    for (const [key, value] of node.attributes) {
      const written =
        typeof value === 'number'
          ? String(value)
          : typeof value === 'string'
            ? escaped(value, `${position}@${key}`)
            : escaped(value.value, value.field);
      open += ` ${key}='${written}'`;
    }
    if (node.children.length === 0) {
      out.push(`${open}/>`);
      return;
    }
    const onlyText = node.children.every((child) => child.kind === 'text');
    if (onlyText) {
      const body = node.children
        .map((child) => escaped(child.value, (child as XmlText).field ?? position))
        .join('');
      out.push(`${open}>${body}</${node.name}>`);
      return;
    }
    out.push(`${open}>`);
    const seen = new Map<string, number>();
    for (const child of node.children) {
      if (child.kind === 'text') continue; // unreachable: element() refuses mixed content
      const index = seen.get(child.name) ?? 0;
      seen.set(child.name, index + 1);
      write(child, depth + 1, `${position}/${child.name}[${index}]`);
    }
    out.push(`${pad}</${node.name}>`);
  };

  write(root, 0, root.name);
  if (issues.length > 0) throw new InvalidSpecError(issues, { subject: options.subject ?? 'spec' });
  return `${out.join(indent ? '\n' : '')}${indent ? '\n' : ''}`;
}
