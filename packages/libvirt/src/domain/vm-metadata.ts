/**
 * hvkit's own record in a domain's `<metadata>`: whether hvkit treats the domain as a template,
 * the hash of the spec and idempotency key it was created with, and the NoCloud seed volume it
 * owns. One element in its own namespace, so `virsh metadata --uri HVKIT_VM_NS --set` rewrites it
 * without touching tags or disk labels, and other tools' metadata is never read or changed.
 *
 * ```xml
 * <hvkit-vm:vm xmlns:hvkit-vm="https://hvkit.dev/libvirt/1/vm" template="yes"
 *   key="…" spec="…" seed="/var/lib/libvirt/images/….iso"/>
 * ```
 */
import { attributeOf, childOf, parseXml, type XmlElement } from '../xml/xml-reader.js';
import { element, field, renderXml, type XmlElementNode } from '../xml/xml-writer.js';

/** Namespace of hvkit's VM record in `<metadata>`. */
export const HVKIT_VM_NS = 'https://hvkit.dev/libvirt/1/vm';
/** Key (element prefix) `virsh metadata --set` is given with {@link HVKIT_VM_NS}. */
export const HVKIT_VM_KEY = 'hvkit-vm';

/** What hvkit records about a domain it made or marked. */
export interface HvkitVmRecord {
  /** hvkit treats the domain as a template: it is never started and may back linked clones. */
  template: boolean;
  /** Hash of the idempotency key a keyed create or clone used. */
  key?: string | undefined;
  /** Hash of the spec a keyed create used (another spec under the same key is a conflict). */
  spec?: string | undefined;
  /** Path of the NoCloud seed ISO volume this domain owns (deleted with it). */
  seed?: string | undefined;
}

/** The `<hvkit-vm:vm>` element for a domain's `<metadata>`. */
export function vmRecordElement(record: HvkitVmRecord): XmlElementNode {
  return element(`${HVKIT_VM_KEY}:vm`, {
    [`xmlns:${HVKIT_VM_KEY}`]: HVKIT_VM_NS,
    template: record.template ? 'yes' : 'no',
    key: record.key === undefined ? undefined : field(record.key, 'idempotencyKey'),
    spec: record.spec === undefined ? undefined : field(record.spec, 'spec'),
    seed: record.seed === undefined ? undefined : field(record.seed, 'seed'),
  });
}

/**
 * The element alone, as `virsh metadata --uri HVKIT_VM_NS --key hvkit-vm --set <xml>` takes it:
 * WITHOUT prefix or namespace declaration — libvirt adds both from `--key`/`--uri`; measured on
 * libvirt 9.0, a prefixed element with its own `xmlns:` fails with `internal error: failed to
 * create a new XML namespace`.
 */
export function renderVmRecord(record: HvkitVmRecord): string {
  return renderXml(
    element('vm', {
      template: record.template ? 'yes' : 'no',
      key: record.key === undefined ? undefined : field(record.key, 'idempotencyKey'),
      spec: record.spec === undefined ? undefined : field(record.spec, 'spec'),
      seed: record.seed === undefined ? undefined : field(record.seed, 'seed'),
    }),
    { indent: false },
  );
}

/** The record in an element found under `<metadata>` (namespace-matched), if any. */
export function vmRecordOf(metadata: XmlElement | undefined): HvkitVmRecord | undefined {
  const node = childOf(metadata, 'vm', HVKIT_VM_NS);
  return node === undefined ? undefined : recordOfNode(node);
}

/**
 * The record in `virsh metadata --uri HVKIT_VM_NS` output (the element alone, prefix as libvirt
 * chose). Undefined for empty output.
 */
export function parseVmRecord(xml: string): HvkitVmRecord | undefined {
  if (xml.trim() === '') return undefined;
  const root = parseXml(xml, { what: 'hvkit VM metadata' });
  return root.name === 'vm' ? recordOfNode(root) : undefined;
}

function recordOfNode(node: XmlElement): HvkitVmRecord {
  return {
    template: attributeOf(node, 'template') === 'yes',
    key: attributeOf(node, 'key'),
    spec: attributeOf(node, 'spec'),
    seed: attributeOf(node, 'seed'),
  };
}
