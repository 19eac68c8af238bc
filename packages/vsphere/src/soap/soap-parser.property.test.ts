import { HvkitError, ProviderApiError } from '@hvkit/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { soapFaultToError } from './soap-faults.js';
import { type ObjectContent, parseSoapResponse, streamRetrieveResult } from './soap-parser.js';
import { referenceParse, referenceStream } from './soap-parser.reference.test-support.js';
import { oneByteChunks, splitBytes } from './test-fixtures.js';

/*
 * Differential properties: the hand-written scanner in soap-parser.ts against the last saxes
 * version of the parser (soap-parser.reference.test-support.ts). Documents are vim25-shaped and
 * written in every spelling XML allows for the same content; both parsers must read the same
 * values, or both refuse.
 */

const SOAPENV = 'http://schemas.xmlsoap.org/soap/envelope/';
const XSD = 'http://www.w3.org/2001/XMLSchema';
const XSI = 'http://www.w3.org/2001/XMLSchema-instance';

// ---------------------------------------------------------------- character data

/** One decoded-to-something token of text content (never `<`, a lone `&` or `]]>`). */
const charRef = fc
  .oneof(
    fc.integer({ min: 0x20, max: 0xd7ff }),
    fc.integer({ min: 0xe000, max: 0xfffd }),
    fc.integer({ min: 0x10000, max: 0x10ffff }),
    fc.constantFrom(0x9, 0xa, 0xd, 0x3c, 0x26, 0xe9, 0x1f600),
  )
  .chain((code) =>
    fc.constantFrom(
      `&#${code};`,
      `&#x${code.toString(16)};`,
      `&#x${code.toString(16).toUpperCase()};`,
      `&#00${code};`,
      `&#x000${code.toString(16)};`,
    ),
  );

const entity = fc.constantFrom(
  '&lt;',
  '&gt;',
  '&amp;',
  '&quot;',
  '&apos;',
  '&#233;',
  '&#xE9;',
  '&#x1F600;',
);

const plain = fc.constantFrom(
  'a',
  'Z',
  '0',
  '42',
  ' ',
  '  ',
  '-',
  '.',
  ':',
  '/',
  '=',
  '>',
  '"',
  "'",
  '\t',
  '\n',
  '\r\n',
  '\r',
  'é',
  'ü',
  '日本',
  '😀',
  '\u00a0',
  '\u2028',
  'vm-42',
);

/** Content for CDATA, comments and PIs: may hold `<` and `&` raw, never its own terminator. */
const rawContent = fc
  .array(fc.constantFrom('a', ' ', '<', '&', '&amp;', ']', '-x', '?x', '😀', 'é', '\n', '"'), {
    maxLength: 6,
  })
  .map((parts) => parts.join(''));

const cdata = rawContent.map((content) => `<![CDATA[${content}]]>`);
const comment = rawContent.map((content) => `<!--${content.replaceAll('-', '_')}-->`);
const pi = fc
  .tuple(fc.constantFrom('hv', 'php', 'x-y', 'pi'), rawContent)
  .map(([target, content]) => `<?${target} ${content.replaceAll('?', '_')}?>`);

/** Text content of an element, with every way XML spells characters. */
const text = fc
  .array(fc.oneof({ arbitrary: plain, weight: 4 }, entity, charRef, cdata, comment, pi), {
    maxLength: 8,
  })
  .map((parts) => parts.join(''));

/** Leaf text that the value rules read as numbers or booleans, or anything else. */
const leafText = fc.oneof(
  fc.constantFrom('42', ' 7 ', '-1', '1.5e3', '', 'true', 'false', '1', '0', 'abc', 'poweredOn'),
  text,
);

/** Whitespace and markup allowed between elements. */
const between = fc
  .array(
    fc.oneof({ arbitrary: fc.constantFrom('', ' ', '\n  ', '\r\n', '\t'), weight: 4 }, comment, pi),
    {
      maxLength: 3,
    },
  )
  .map((parts) => parts.join(''));

// ---------------------------------------------------------------- attributes and tags

/** An attribute value: tokens, one of them possibly the quote (escaped at serialization). */
const attributeTokens = fc.array(
  fc.oneof(
    {
      arbitrary: fc.constantFrom(
        'Virtual',
        'Machine',
        'vm-1',
        ' ',
        '>',
        'é',
        '😀',
        ':',
        '\t',
        '\n',
        '\r\n',
        '\r',
      ),
      weight: 4,
    },
    fc.constantFrom('"', "'"),
    entity,
    charRef,
  ),
  { maxLength: 5 },
);

const spaceIn = fc.constantFrom(' ', '  ', '\n    ', '\t', '\r\n ');
const spaceAroundEquals = fc.constantFrom('', ' ', '\n', '\t ');
const spaceBeforeEnd = fc.constantFrom('', '', ' ', '\n  ', '\t');

interface Attribute {
  name: string;
  value: string | string[];
}

/** `name = "value"` in either quote style, the other quote raw and the same one escaped. */
const serializeAttribute = (attribute: Attribute) =>
  fc
    .tuple(fc.constantFrom('"', "'"), spaceAroundEquals, spaceAroundEquals, spaceIn)
    .map(([quote, before, after, lead]) => {
      const tokens = typeof attribute.value === 'string' ? [attribute.value] : attribute.value;
      const value = tokens
        .map((token) => (token === quote ? (quote === '"' ? '&quot;' : '&#39;') : token))
        .join('');
      return `${lead}${attribute.name}${before}=${after}${quote}${value}${quote}`;
    });

const serializeAttributes = (attributes: readonly Attribute[]) =>
  attributes.length === 0
    ? fc.constant('')
    : fc.tuple(...attributes.map(serializeAttribute)).map((parts) => parts.join(''));

/**
 * An element: optionally under a locally declared prefix for the vim25 namespace, attributes in
 * random order, self-closing when empty (sometimes), whitespace before `>`, `/>` and in `</x >`.
 */
const element = (name: string, attributes: readonly Attribute[], content: string) =>
  fc
    .record({
      prefixed: fc.boolean(),
      defaultNs: fc.constantFrom(undefined, undefined, undefined, 'urn:vim25', '', 'urn:other'),
      reverse: fc.boolean(),
      extra: fc.constantFrom(
        [] as Attribute[],
        [{ name: 'foo', value: 'bar' }],
        [{ name: 'xmlns:other', value: 'urn:other' }],
        [
          { name: 'xmlns:other', value: 'urn:other' },
          { name: 'other:type', value: 'Ignored' },
        ],
      ),
      selfClose: fc.boolean(),
      endSpace: spaceBeforeEnd,
      closeSpace: fc.constantFrom('', '', ' ', '\n'),
    })
    .chain((style) => {
      const all: Attribute[] = [...attributes, ...style.extra];
      if (style.prefixed) all.push({ name: 'xmlns:v', value: 'urn:vim25' });
      if (style.defaultNs !== undefined) all.push({ name: 'xmlns', value: style.defaultNs });
      if (style.reverse) all.reverse();
      // XML forbids an attribute twice (`xmlns` from the style and from an `xsi:type` spelling).
      const unique = all.filter(
        (attribute, index) => all.findIndex((other) => other.name === attribute.name) === index,
      );
      const qname = style.prefixed ? `v:${name}` : name;
      return serializeAttributes(unique).map((attrs) =>
        content === '' && style.selfClose
          ? `<${qname}${attrs}${style.endSpace}/>`
          : `<${qname}${attrs}${style.endSpace}>${content}</${qname}${style.closeSpace}>`,
      );
    });

/**
 * `xsi:type` attributes naming `type` (`xsd:int`-style when `xsd`): the envelope's `xsi:`, vcsim's
 * locally declared `XMLSchema-instance:`, a prefix rebound to XSD locally, or the default
 * namespace set to XSD so an unprefixed value is an XSD type.
 */
const typeAttributes = (type: string, xsd: boolean): fc.Arbitrary<Attribute[]> =>
  fc
    .record({
      spelling: fc.constantFrom('xsi', 'vcsim', 'other'),
      xsdSpelling: fc.constantFrom('xsd', 'local', 'default'),
    })
    .map(({ spelling, xsdSpelling }) => {
      const attributes: Attribute[] = [];
      let value = type;
      if (xsd) {
        if (xsdSpelling === 'xsd') value = `xsd:${type}`;
        else if (xsdSpelling === 'local') {
          attributes.push({ name: 'xmlns:q', value: XSD });
          value = `q:${type}`;
        } else {
          attributes.push({ name: 'xmlns', value: XSD });
        }
      }
      if (spelling === 'xsi') attributes.push({ name: 'xsi:type', value });
      else if (spelling === 'vcsim') {
        attributes.push({ name: 'xmlns:XMLSchema-instance', value: XSI });
        attributes.push({ name: 'XMLSchema-instance:type', value });
      } else {
        attributes.push({ name: 'xmlns:i2', value: XSI });
        attributes.push({ name: 'i2:type', value });
      }
      return attributes;
    });

// ---------------------------------------------------------------- vim25-shaped trees

const FIELD_NAMES = [
  'name',
  'val',
  'key',
  'label',
  'summary',
  'config',
  'state',
  'numCPU',
  'memoryMB',
  'progress',
  'cancelled',
  'ipAddress',
  'net',
  'device',
  'extraConfig',
  'disabledMethod',
  'entity',
  '名前',
  '_x-y.z',
] as const;
const fieldName = fc.constantFrom(...FIELD_NAMES);
const XSD_TYPES = [
  'int',
  'long',
  'short',
  'double',
  'boolean',
  'string',
  'dateTime',
  'unsignedByte',
];
const VIM_TYPES = [
  'GuestInfo',
  'GuestNicInfo',
  'VirtualMachineConfigInfo',
  'TaskInfo',
  'OptionValue',
];
const ENUM_TYPES = ['VirtualMachinePowerState', 'TaskInfoState'];
const ARRAYS: Record<string, string> = {
  ArrayOfString: 'string',
  ArrayOfInt: 'int',
  ArrayOfManagedObjectReference: 'ManagedObjectReference',
  ArrayOfGuestNicInfo: 'GuestNicInfo',
  ArrayOfBoolean: 'boolean',
};

/** A moref: `<name type="VirtualMachine">vm-42</name>`. */
const moref = (name: string) =>
  fc
    .tuple(
      fc.oneof(fc.constantFrom('VirtualMachine', 'HostSystem', 'Folder', 'Task'), attributeTokens),
      leafText,
    )
    .chain(([type, value]) => element(name, [{ name: 'type', value: type }], value));

/** A text leaf, untyped or with an XSD or enum `xsi:type`. */
const leaf = (name: string) =>
  fc
    .tuple(
      fc.oneof(
        fc.constant(undefined),
        fc.constantFrom(...XSD_TYPES).map((type) => ({ type, xsd: true })),
        fc.constantFrom(...ENUM_TYPES).map((type) => ({ type, xsd: false })),
      ),
      leafText,
    )
    .chain(([typed, content]) =>
      (typed === undefined ? fc.constant([]) : typeAttributes(typed.type, typed.xsd)).chain(
        (attributes) => element(name, attributes, content),
      ),
    );

/** Any vim25 value named `name`, nested at most `depth` levels. */
function tree(name: string, depth: number): fc.Arbitrary<string> {
  const leaves = [leaf(name), moref(name)];
  if (depth <= 0) return fc.oneof(...leaves);
  const child = fieldName.chain((field) => tree(field, depth - 1));
  // A data object, typed or not, whose fields may repeat (two `<net>` make an array).
  const object = fc
    .tuple(
      fc.option(fc.constantFrom(...VIM_TYPES)),
      fc.array(fc.tuple(between, child), { maxLength: 4 }),
      between,
      fc.option(fc.constantFrom('stray text', ' &amp; ', '<![CDATA[x]]>'), { freq: 5 }),
    )
    .chain(([type, children, tail, stray]) =>
      (type === null ? fc.constant([]) : typeAttributes(type, false)).chain((attributes) =>
        element(
          name,
          attributes,
          `${stray ?? ''}${children.map(([space, xml]) => space + xml).join('')}${tail}`,
        ),
      ),
    );
  // An `ArrayOf…` wrapper: every child is an item, named after the item type.
  const array = fc.constantFrom(...Object.keys(ARRAYS)).chain((type) => {
    const itemName = ARRAYS[type] as string;
    return fc
      .tuple(
        typeAttributes(type, false),
        fc.array(fc.tuple(between, tree(itemName, depth - 1)), { maxLength: 4 }),
        between,
      )
      .chain(([attributes, items, tail]) =>
        element(name, attributes, items.map(([space, xml]) => space + xml).join('') + tail),
      );
  });
  return fc.oneof(
    { arbitrary: leaves[0] as fc.Arbitrary<string>, weight: 3 },
    { arbitrary: leaves[1] as fc.Arbitrary<string>, weight: 1 },
    { arbitrary: object, weight: 2 },
    { arbitrary: array, weight: 1 },
  );
}

// ---------------------------------------------------------------- documents

const xmlDeclaration = fc.constantFrom(
  '',
  '<?xml version="1.0" encoding="UTF-8"?>',
  "<?xml version='1.0' encoding='utf-8' standalone='yes'?>\n",
  '<?xml version="1.0"?>\r\n',
);

/** A prolog and epilog: comments, PIs and whitespace, never text. */
const misc = fc
  .array(fc.oneof(fc.constantFrom('\n', ' ', '\r\n'), comment, pi), { maxLength: 3 })
  .map((parts) => parts.join(''));

/** The envelope around `body`: `soapenv:`, another prefix or the default namespace. */
const envelope = (body: string) =>
  fc
    .record({
      declaration: xmlDeclaration,
      before: misc,
      after: misc,
      prefix: fc.constantFrom('soapenv:', 'S:', ''),
      header: fc.constantFrom('', '<Header/>', '<Header><x>1</x></Header>'),
      spaces: fc.tuple(between, between, between, between),
    })
    .chain(({ declaration, before, after, prefix, header, spaces }) => {
      const p = prefix;
      const ns =
        p === ''
          ? { name: 'xmlns', value: SOAPENV }
          : { name: `xmlns:${p.slice(0, -1)}`, value: SOAPENV };
      const attributes: Attribute[] = [
        ns,
        { name: 'xmlns:xsd', value: XSD },
        { name: 'xmlns:xsi', value: XSI },
      ];
      const head = header === '' ? '' : header.replaceAll('Header', `${p}Header`);
      return serializeAttributes(attributes).map(
        (attrs) =>
          `${declaration}${before}<${p}Envelope${attrs}>${spaces[0]}${head}${spaces[1]}` +
          `<${p}Body>${spaces[2]}${body.replaceAll('@P@', p)}${spaces[3]}</${p}Body></${p}Envelope>${after}`,
      );
    });

/** A method response with zero to three `returnval`s of any shape. */
const anyResponse = fc
  .tuple(
    fc.constantFrom('RetrieveServiceContentResponse', 'LoginResponse', 'PowerOnVM_TaskResponse'),
    fc.array(fc.tuple(between, tree('returnval', 3)), { maxLength: 3 }),
  )
  .chain(([name, values]) =>
    element(name, [{ name: 'xmlns', value: 'urn:vim25' }], values.map(([s, v]) => s + v).join('')),
  )
  .chain(envelope);

/** `objects`: a moref, `propSet`s (name + val) and `missingSet`s (path + typed fault). */
const objectContent = fc
  .tuple(
    moref('obj'),
    fc.array(
      fc
        .tuple(leaf('name'), tree('val', 2), between)
        .chain(([name, val, space]) => element('propSet', [], name + space + val)),
      { maxLength: 3 },
    ),
    fc.array(
      fc
        .tuple(
          leaf('path'),
          fc.constantFrom(...VIM_TYPES).chain((type) => typeAttributes(type, false)),
        )
        .chain(([path, attributes]) =>
          element('fault', attributes, '<reason>x</reason>').chain((fault) =>
            element('missingSet', [], path + fault),
          ),
        ),
      { maxLength: 2 },
    ),
    between,
  )
  .chain(([obj, props, missing, space]) =>
    element('objects', [], [obj, ...props, ...missing].join(space)),
  );

/** A `RetrievePropertiesEx` result, the paging token before, after or without the objects. */
const retrieveResponse = fc
  .tuple(
    fc.constantFrom('RetrievePropertiesExResponse', 'ContinueRetrievePropertiesExResponse'),
    fc.array(objectContent, { maxLength: 4 }),
    fc.constantFrom('none', 'first', 'last'),
    leaf('token'),
    between,
  )
  .chain(([name, objects, where, token, space]) => {
    const parts = [...objects];
    if (where === 'first') parts.unshift(token);
    if (where === 'last') parts.push(token);
    return element('returnval', [], parts.join(space)).chain((returnval) =>
      element(name, [{ name: 'xmlns', value: 'urn:vim25' }], returnval),
    );
  })
  .chain(envelope);

/**
 * A listing's `objects` as vCenter and vcsim write them, compact: the shape the builder reads in
 * one step (`objectsAt` in soap-parser.ts) — `<obj type="…">` and `<propSet><name>…</name><val …>`
 * with every spelling of `val`'s type and namespace attributes, entities in text — and now and
 * then something that sends the element the general way instead (spacing, quotes, a nested
 * value, a `missingSet`, attributes with entities).
 */
const compactAttributes = (attributes: readonly Attribute[]) =>
  fc.oneof(
    {
      arbitrary: fc.constant(
        attributes
          .map(({ name, value }) => {
            const text = typeof value === 'string' ? value : value.join('');
            return ` ${name}="${text.replaceAll('"', '&quot;')}"`;
          })
          .join(''),
      ),
      weight: 20,
    },
    { arbitrary: serializeAttributes(attributes), weight: 1 },
  );

/** Text without markup (entities and character references stay). */
const compactText = leafText.filter((value) => !value.includes('<'));

const compactVal = fc
  .tuple(
    fc.oneof(
      fc.constant([] as Attribute[]),
      fc.constantFrom(...XSD_TYPES).chain((type) => typeAttributes(type, true)),
      fc
        .constantFrom(...ENUM_TYPES, ...VIM_TYPES, ...Object.keys(ARRAYS))
        .chain((type) => typeAttributes(type, false)),
      fc
        .oneof(fc.constantFrom('HostSystem', 'Datastore'), attributeTokens)
        .map((type) => [{ name: 'type', value: type }]),
    ),
    fc.constantFrom(
      [] as Attribute[],
      [] as Attribute[],
      [{ name: 'foo', value: 'bar' }],
      [{ name: 'xmlns:other', value: 'urn:other' }],
      [
        { name: 'xmlns:other', value: 'urn:other' },
        { name: 'other:type', value: 'Ignored' },
      ],
      [{ name: 'xml:lang', value: 'en' }],
    ),
    fc.boolean(),
    compactText,
  )
  .chain(([typed, extra, reverse, content]) => {
    const all = [...typed, ...extra];
    if (reverse) all.reverse();
    const unique = all.filter(
      (attribute, index) => all.findIndex((other) => other.name === attribute.name) === index,
    );
    return compactAttributes(unique).map((attrs) => `<val${attrs}>${content}</val>`);
  });

const compactObject = fc
  .tuple(
    fc.oneof(
      { arbitrary: fc.constantFrom('VirtualMachine', 'HostSystem'), weight: 6 },
      { arbitrary: attributeTokens, weight: 1 },
    ),
    compactText,
    fc.array(
      fc.tuple(
        compactText,
        fc.oneof({ arbitrary: compactVal, weight: 20 }, { arbitrary: tree('val', 1), weight: 1 }),
      ),
      { maxLength: 4 },
    ),
    fc.oneof({ arbitrary: fc.constant(''), weight: 10 }, fc.constantFrom(' ', '\n')),
    fc.oneof(
      { arbitrary: fc.constant(''), weight: 10 },
      element('missingSet', [], '<path>config</path><fault xsi:type="NoPermission"></fault>'),
    ),
  )
  .chain(([type, value, props, space, missing]) =>
    compactAttributes([{ name: 'type', value: type }]).map(
      (attrs) =>
        `<objects><obj${attrs}>${value}</obj>${space}` +
        props.map(([name, val]) => `<propSet><name>${name}</name>${val}</propSet>`).join(space) +
        `${missing}</objects>`,
    ),
  );

const listingResponse = fc
  .tuple(fc.array(compactObject, { maxLength: 5 }), fc.constantFrom('', '<token>t-1</token>'))
  .map(
    ([objects, token]) =>
      `<RetrievePropertiesExResponse xmlns="urn:vim25"><returnval>${token}${objects.join('')}` +
      '</returnval></RetrievePropertiesExResponse>',
  )
  .chain(envelope);

/** A SOAP fault with a typed detail. */
const faultResponse = fc
  .tuple(
    leafText,
    fc.constantFrom('NotAuthenticated', 'ManagedObjectNotFound', 'InvalidArgument'),
    fc.array(
      fc.tuple(
        between,
        fieldName.chain((field) => tree(field, 1)),
      ),
      { maxLength: 3 },
    ),
    fc.boolean(),
  )
  .chain(([message, type, fields, typed]) =>
    (typed ? typeAttributes(type, false) : fc.constant([])).chain((attributes) =>
      element(
        `${type}Fault`,
        [{ name: 'xmlns', value: 'urn:vim25' }, ...attributes],
        fields.map(([s, f]) => s + f).join(''),
      ).map(
        (detail) =>
          `<@P@Fault><faultcode>ServerFaultCode</faultcode><faultstring>${message}</faultstring>` +
          `<detail>${detail}</detail></@P@Fault>`,
      ),
    ),
  )
  .chain(envelope);

const document = fc.oneof(anyResponse, retrieveResponse, listingResponse, faultResponse);

// ---------------------------------------------------------------- running both parsers

/** Cut points for byte chunks; many land inside multi-byte UTF-8 sequences. */
const cuts = fc.array(fc.nat(), { maxLength: 30 });

type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown };

async function settle<T>(run: () => Promise<T>): Promise<Outcome<T>> {
  try {
    return { ok: true, value: await run() };
  } catch (error) {
    return { ok: false, error };
  }
}

async function collect(
  stream: AsyncIterable<ObjectContent> & { token: string | undefined },
): Promise<{ objects: ObjectContent[]; token: string | undefined }> {
  const objects: ObjectContent[] = [];
  for await (const content of stream) objects.push(content);
  return { objects, token: stream.token };
}

/**
 * Both entry points, on the whole string, on random byte chunks and on one-byte chunks, against
 * the reference. Returns whether the reference accepted the document.
 */
async function compare(
  xml: string,
  cutPoints: readonly number[],
  everyByte = true,
): Promise<boolean> {
  const expected = referenceParse(xml);
  const expectedStream = referenceStream(xml);
  const bodies = [xml, splitBytes(xml, cutPoints)];
  if (everyByte) bodies.push(oneByteChunks(xml));
  for (const body of bodies) {
    const parsed = await settle(() => parseSoapResponse(body));
    if (expected.ok) {
      if (!parsed.ok) throw parsed.error;
      expect(parsed.value).toStrictEqual(expected.response);
    } else {
      expect(parsed.ok).toBe(false);
      if (!parsed.ok) expect(parsed.error).toBeInstanceOf(ProviderApiError);
    }
    const streamed = await settle(() => collect(streamRetrieveResult(body)));
    if (!expectedStream.ok) {
      expect(streamed.ok).toBe(false);
      if (!streamed.ok) expect(streamed.error).toBeInstanceOf(ProviderApiError);
    } else if (expectedStream.fault !== undefined) {
      expect(streamed.ok).toBe(false);
      if (!streamed.ok) {
        const mapped = soapFaultToError(expectedStream.fault);
        expect(HvkitError.isInstance(streamed.error)).toBe(true);
        expect((streamed.error as Error).constructor).toBe(mapped.constructor);
        expect((streamed.error as Error).message).toBe(mapped.message);
      }
    } else {
      if (!streamed.ok) throw streamed.error;
      expect(streamed.value).toStrictEqual({
        objects: expectedStream.objects,
        token: expectedStream.token,
      });
    }
  }
  return expected.ok;
}

describe('parseSoapResponse and streamRetrieveResult against the saxes reference', () => {
  it('read every valid vim25-shaped document as saxes does, whole or in byte chunks', async () => {
    let valid = 0;
    await fc.assert(
      fc.asyncProperty(document, cuts, async (xml, cutPoints) => {
        if (await compare(xml, cutPoints)) valid++;
      }),
      { numRuns: 300 },
    );
    // The generator writes well-formed documents: saxes must accept (nearly) all of them.
    expect(valid).toBeGreaterThan(290);
  });

  it('read compact listings (objects read in one step) as saxes does, whole or in chunks', async () => {
    await fc.assert(
      fc.asyncProperty(listingResponse, cuts, async (xml, cutPoints) => {
        expect(await compare(xml, cutPoints)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});

// ---------------------------------------------------------------- malformed documents

/** Breaks a well-formed document in one of the ways a cut or broken response is broken. */
const MUTATIONS = {
  /** Cut at a random point (never inside a surrogate pair: the bytes stay valid UTF-8). */
  truncated: (xml: string, at: number) => {
    let cut = at % (xml.length + 1);
    if (cut > 0 && /[\uD800-\uDBFF]/.test(xml.charAt(cut - 1))) cut--;
    return xml.slice(0, cut);
  },
  /** One close tag dropped, renamed or doubled. */
  unbalanced: (xml: string, at: number) => {
    const closes = [...xml.matchAll(/<\/[^>]+>/g)];
    const close = closes[at % closes.length];
    if (close === undefined) return xml;
    const start = close.index;
    const end = start + close[0].length;
    const replacement = ['', '</zz>', close[0] + close[0]][at % 3] as string;
    return xml.slice(0, start) + replacement + xml.slice(end);
  },
  /** An undefined entity, a bare `&` or a reference to a character XML does not allow. */
  badEntity: (xml: string, at: number) => {
    const texts = [...xml.matchAll(/<returnval>|<faultstring>|<name[ >]/g)];
    const anchor = texts[at % Math.max(texts.length, 1)];
    const bad = ['&bogus;', '& ', '&#0;', '&#xD800;', '&#x110000;', '&lt', '&#;', '&#x;'][at % 8];
    if (anchor === undefined) return `${xml}${bad}`;
    const position = xml.indexOf('>', anchor.index) + 1;
    return xml.slice(0, position) + bad + xml.slice(position);
  },
  /** A `<` inside an attribute value. */
  ltInAttribute: (xml: string, at: number) => {
    const values = [...xml.matchAll(/=\s*(["'])/g)];
    const value = values[at % values.length];
    if (value === undefined) return xml;
    const position = value.index + value[0].length;
    return `${xml.slice(0, position)}a<b${xml.slice(position)}`;
  },
  /** A second root element, or text, after (or before) the envelope. */
  secondRoot: (xml: string, at: number) =>
    [
      `${xml}<soapenv:Envelope xmlns:soapenv="${SOAPENV}"/>`,
      `${xml}<x>1</x>`,
      `${xml}junk`,
      `<x/>${xml.replace(/^<\?xml[^>]*>/, '')}`,
    ][at % 4] as string,
} as const;

describe('malformed documents', () => {
  it('are refused with ProviderApiError exactly when saxes refuses them', async () => {
    const refused: Record<string, number> = {};
    await fc.assert(
      fc.asyncProperty(
        document,
        fc.constantFrom(...(Object.keys(MUTATIONS) as (keyof typeof MUTATIONS)[])),
        fc.nat(),
        cuts,
        async (xml, mutation, at, cutPoints) => {
          const broken = MUTATIONS[mutation](xml, at);
          if (!(await compare(broken, cutPoints, false)))
            refused[mutation] = (refused[mutation] ?? 0) + 1;
        },
      ),
      { numRuns: 300 },
    );
    // Every kind of damage was refused at least sometimes (a cut after the root is harmless).
    for (const mutation of Object.keys(MUTATIONS)) {
      expect(refused[mutation] ?? 0, mutation).toBeGreaterThan(10);
    }
  });
});

describe('scanner bugs the differential properties found (regressions)', () => {
  const envelope = (inner: string) =>
    `<soapenv:Envelope xmlns:soapenv="${SOAPENV}" xmlns:xsi="${XSI}"><soapenv:Body>` +
    `<RetrieveServiceContentResponse xmlns="urn:vim25">${inner}</RetrieveServiceContentResponse>` +
    '</soapenv:Body></soapenv:Envelope>';
  const CASES: { why: string; xml: string; returnval: unknown[] }[] = [
    {
      why: 'a chunk ending between an attribute name and its `=` (after a space)',
      xml: envelope('<returnval type \n="Folder">group-d1</returnval>'),
      returnval: [{ type: 'Folder', value: 'group-d1' }],
    },
    {
      why: 'character references with leading zeros',
      xml: envelope('<returnval>&#00000233;&#x0001F600;</returnval>'),
      returnval: ['é😀'],
    },
    {
      why: 'CRLF and a lone CR in text are one LF; a CR written as &#xD; stays',
      xml: envelope('<returnval>a\r\nb\rc&#xD;</returnval>'),
      returnval: ['a\nb\nc\r'],
    },
    {
      why: 'a literal tab or line end in an attribute value is a space; &#9; stays a tab',
      xml: envelope('<returnval type="Vir\ttual\r\nMachine&#9;">vm-1</returnval>'),
      returnval: [{ type: 'Vir tual Machine\t', value: 'vm-1' }],
    },
  ];
  it.each(CASES)('$why', async ({ xml, returnval }) => {
    const expected = { kind: 'result', element: 'RetrieveServiceContentResponse', returnval };
    expect(referenceParse(xml)).toStrictEqual({ ok: true, response: expected });
    // Every split point, so the attribute case is cut exactly between the name and its `=`.
    for (let cut = 0; cut <= xml.length; cut++) {
      expect(await parseSoapResponse(splitBytes(xml, [cut]))).toStrictEqual(expected);
    }
  });

  it('refuses a malformed XML declaration, as saxes does', async () => {
    const xml = `<?xml version='a<b1.0'?>${envelope('<returnval>x</returnval>')}`;
    expect(referenceParse(xml).ok).toBe(false);
    await expect(parseSoapResponse(xml)).rejects.toThrow(ProviderApiError);
    await expect(parseSoapResponse(xml)).rejects.toThrow(/malformed XML declaration/);
  });
});
