import { InvalidSpecError } from '@hvkit/core';
import { SaxesParser } from 'saxes';
import { describe, expect, it } from 'vitest';
import { buildEnvelope, type DataObject, serializeElement } from './soap-envelope.js';
import { readFixture } from './test-fixtures.js';

interface Node {
  element: string;
  attributes: string[];
  children: Node[];
  text: string;
}

/**
 * An element tree for comparison: names as `{uri}local` (prefixes ignored), namespace
 * declarations dropped, whitespace between elements ignored.
 */
function tree(xml: string): Node {
  const parser = new SaxesParser({ xmlns: true });
  const stack: Node[] = [];
  let root: Node | undefined;
  parser.on('opentag', (tag) => {
    const node: Node = {
      element: `{${tag.uri}}${tag.local}`,
      attributes: Object.values(tag.attributes)
        .filter((attribute) => attribute.prefix !== 'xmlns' && attribute.name !== 'xmlns')
        .map((attribute) => `{${attribute.uri}}${attribute.local}=${attribute.value}`)
        .sort(),
      children: [],
      text: '',
    };
    stack.at(-1)?.children.push(node);
    stack.push(node);
    root ??= node;
  });
  parser.on('text', (text) => {
    const node = stack.at(-1);
    if (node !== undefined) node.text += text;
  });
  parser.on('closetag', () => {
    const node = stack.pop();
    if (node !== undefined && node.children.length > 0) node.text = '';
  });
  parser.write(xml).close();
  if (root === undefined) throw new Error('empty document');
  return root;
}

const propertyCollector = { type: 'PropertyCollector', value: 'propertyCollector' };
const containerView = {
  type: 'ContainerView',
  value: 'session[61275bea-bdd8-4796-ae26-c6688f09167f]d5967cf3-7301-49e9-9c50-e70201998b7c',
};

function containerViewSpec(paths: string[]): DataObject {
  return {
    $type: 'PropertyFilterSpec',
    // Given out of schema order on purpose: the writer must follow vim25's order.
    objectSet: [
      {
        $type: 'ObjectSpec',
        selectSet: [
          {
            $type: 'TraversalSpec',
            skip: false,
            path: 'view',
            type: 'ContainerView',
            name: 'traverseEntities',
          },
        ],
        skip: true,
        obj: containerView,
      },
    ],
    propSet: [{ $type: 'PropertySpec', pathSet: paths, type: 'VirtualMachine' }],
  };
}

describe('buildEnvelope against the recorded requests', () => {
  it('RetrieveServiceContent', () => {
    const envelope = buildEnvelope('RetrieveServiceContent', {
      type: 'ServiceInstance',
      value: 'ServiceInstance',
    });
    expect(tree(envelope)).toEqual(tree(readFixture('RetrieveServiceContent.req.xml').body));
    expect(envelope).toMatchInlineSnapshot(
      `"<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><RetrieveServiceContent xmlns="urn:vim25"><_this type="ServiceInstance">ServiceInstance</_this></RetrieveServiceContent></soapenv:Body></soapenv:Envelope>"`,
    );
  });

  it('Login', () => {
    const envelope = buildEnvelope('Login', { type: 'SessionManager', value: 'SessionManager' }, [
      ['userName', 'admin'],
      ['password', 'secret'],
      ['locale', 'en_US'],
    ]);
    expect(tree(envelope)).toEqual(tree(readFixture('Login.req.xml').body));
  });

  it('CreateContainerView', () => {
    const envelope = buildEnvelope(
      'CreateContainerView',
      { type: 'ViewManager', value: 'ViewManager' },
      [
        ['container', { type: 'Folder', value: 'group-d1' }],
        ['type', ['VirtualMachine']],
        ['recursive', true],
      ],
    );
    expect(tree(envelope)).toEqual(tree(readFixture('CreateContainerView.req.xml').body));
  });

  it('RetrievePropertiesEx over a container view, fields in vim25 order', () => {
    const envelope = buildEnvelope('RetrievePropertiesEx', propertyCollector, [
      [
        'specSet',
        [
          containerViewSpec([
            'name',
            'runtime.powerState',
            'config.hardware.numCPU',
            'config.uuid',
          ]),
        ],
      ],
      ['options', { $type: 'RetrieveOptions', maxObjects: 2 }],
    ]);
    expect(tree(envelope)).toEqual(
      tree(readFixture('RetrievePropertiesEx-ContainerView-maxObjects2.req.xml').body),
    );
    const body = envelope.slice(envelope.indexOf('<RetrievePropertiesEx '));
    expect(body).toMatchInlineSnapshot(
      `"<RetrievePropertiesEx xmlns="urn:vim25"><_this type="PropertyCollector">propertyCollector</_this><specSet><propSet><type>VirtualMachine</type><pathSet>name</pathSet><pathSet>runtime.powerState</pathSet><pathSet>config.hardware.numCPU</pathSet><pathSet>config.uuid</pathSet></propSet><objectSet><obj type="ContainerView">session[61275bea-bdd8-4796-ae26-c6688f09167f]d5967cf3-7301-49e9-9c50-e70201998b7c</obj><skip>true</skip><selectSet xsi:type="TraversalSpec"><name>traverseEntities</name><type>ContainerView</type><path>view</path><skip>false</skip></selectSet></objectSet></specSet><options><maxObjects>2</maxObjects></options></RetrievePropertiesEx></soapenv:Body></soapenv:Envelope>"`,
    );
  });

  it('RetrievePropertiesEx of one task, with empty options', () => {
    const envelope = buildEnvelope('RetrievePropertiesEx', propertyCollector, [
      [
        'specSet',
        [
          {
            $type: 'PropertyFilterSpec',
            propSet: [{ $type: 'PropertySpec', type: 'Task', pathSet: ['info'] }],
            objectSet: [
              { $type: 'ObjectSpec', obj: { type: 'Task', value: 'task-77' }, skip: false },
            ],
          },
        ],
      ],
      ['options', { $type: 'RetrieveOptions' }],
    ]);
    expect(tree(envelope)).toEqual(
      tree(readFixture('PowerOnVM_Task-already-on.TaskInfo.req.xml').body),
    );
  });

  it('ContinueRetrievePropertiesEx', () => {
    const envelope = buildEnvelope('ContinueRetrievePropertiesEx', propertyCollector, [
      ['token', '1'],
    ]);
    expect(tree(envelope)).toEqual(tree(readFixture('ContinueRetrievePropertiesEx.req.xml').body));
  });
});

describe('the value writer', () => {
  it('writes xsi:type for anyType values, as vcsim needs for extraConfig', () => {
    expect(
      serializeElement('extraConfig', [
        { $type: 'OptionValue', key: 'guestinfo.userdata', value: 'I2Nsb3VkLWNvbmZpZwo=' },
        { $type: 'OptionValue', key: 'flag', value: true },
        { $type: 'OptionValue', key: 'big', value: { $xsd: 'long', value: 5368709120 } },
      ]),
    ).toMatchInlineSnapshot(
      `"<extraConfig><key>guestinfo.userdata</key><value xsi:type="xsd:string">I2Nsb3VkLWNvbmZpZwo=</value></extraConfig><extraConfig><key>flag</key><value xsi:type="xsd:boolean">true</value></extraConfig><extraConfig><key>big</key><value xsi:type="xsd:long">5368709120</value></extraConfig>"`,
    );
  });

  it('escapes every value, morefs and their type attribute included', () => {
    expect(serializeElement('obj', { type: 'Datastore', value: '/tmp/ds<1>&"x"@folder-5' })).toBe(
      '<obj type="Datastore">/tmp/ds&lt;1&gt;&amp;&quot;x&quot;@folder-5</obj>',
    );
    expect(serializeElement('name', `web <01> & "prod" 'eu' — ü 𝄞`)).toBe(
      '<name>web &lt;01&gt; &amp; &quot;prod&quot; &apos;eu&apos; — ü 𝄞</name>',
    );
  });

  it.each([
    [
      'an unknown field (vcsim would silently ignore it)',
      { $type: 'PropertySpec', type: 'VirtualMachine', pathSett: ['name'] },
      'specSet.pathSett',
    ],
    ['an unknown type', { $type: 'NoSuchSpec' }, 'specSet'],
    ['a NUL in a value', { $type: 'PropertySpec', type: 'V\u0000M' }, 'specSet.type'],
    ['a non-integer int', { $type: 'RetrieveOptions', maxObjects: 1.5 }, 'specSet.maxObjects'],
    [
      'a non-finite number',
      { $type: 'RetrieveOptions', maxObjects: Number.NaN },
      'specSet.maxObjects',
    ],
  ])('refuses %s before anything is sent, naming the path', (_label, value, path) => {
    try {
      serializeElement('specSet', value as DataObject);
      expect.unreachable();
    } catch (error) {
      expect(InvalidSpecError.isInstance(error)).toBe(true);
      expect((error as InvalidSpecError).issues[0]?.path).toBe(path);
    }
  });

  it.each([
    ['byte', -128, '-128'],
    ['byte', 127, '127'],
    ['short', -32768, '-32768'],
    ['int', 2147483647, '2147483647'],
    ['long', 5368709120, '5368709120'],
    ['long', '9223372036854775807', '9223372036854775807'],
    ['long', '-9223372036854775808', '-9223372036854775808'],
    ['float', 1.5, '1.5'],
    ['double', -0.25, '-0.25'],
    ['double', 1e21, '1e+21'],
    ['boolean', false, 'false'],
    ['string', 'a<b', 'a&lt;b'],
    ['dateTime', '2026-11-21T15:26:31.000Z', '2026-11-21T15:26:31.000Z'],
    ['dateTime', '2026-11-21T15:26:31+01:00', '2026-11-21T15:26:31+01:00'],
    ['base64Binary', 'I2Nsb3VkLWNvbmZpZwo=', 'I2Nsb3VkLWNvbmZpZwo='],
    ['base64Binary', '', ''],
  ] as const)('writes a declared xsd:%s %j as %s', (type, value, text) => {
    expect(serializeElement('v', value, type)).toBe(`<v>${text}</v>`);
  });

  it.each([
    ['byte', 128],
    ['byte', -129],
    ['short', 32768],
    ['short', 1.5],
    ['byte', 0.5],
    ['int', 2147483648],
    ['int', '12a'],
    ['long', '9223372036854775808'],
    ['long', 2 ** 60],
    ['int', true],
    ['float', 1e39],
    ['double', Number.POSITIVE_INFINITY],
    ['double', '1.5'],
    ['boolean', 'true'],
    ['string', 42],
    ['dateTime', 'yesterday'],
    ['dateTime', '2026-13-01T00:00:00Z'],
    ['dateTime', 1763738791000],
    ['base64Binary', 'abc'],
    ['base64Binary', 'a b='],
    ['VirtualMachineFileInfo', 'x'],
    ['ManagedObjectReference', 'vm-1'],
  ] as const)('refuses a declared %s given %j, naming the path', (type, value) => {
    try {
      serializeElement('v', value, type);
      expect.unreachable();
    } catch (error) {
      expect(InvalidSpecError.isInstance(error)).toBe(true);
      expect((error as InvalidSpecError).issues[0]?.path).toBe('v');
    }
  });

  it('writes a typed scalar in an anyType field and refuses one that contradicts its field', () => {
    expect(
      serializeElement('extraConfig', {
        $type: 'OptionValue',
        key: 'when',
        value: { $xsd: 'dateTime', value: '2026-11-21T15:26:31Z' },
      }),
    ).toBe(
      '<extraConfig><key>when</key><value xsi:type="xsd:dateTime">2026-11-21T15:26:31Z</value></extraConfig>',
    );
    expect(() => serializeElement('v', { $xsd: 'short', value: 70000 }, 'anyType')).toThrow(
      /out of the xsd:short range/,
    );
    expect(() => serializeElement('v', { $xsd: 'long', value: 1 }, 'int')).toThrow(
      /expects int, not xsd:long/,
    );
  });

  it('refuses a subtype that is not one of the declared type', () => {
    expect(() =>
      serializeElement('specSet', {
        $type: 'ObjectSpec',
        obj: containerView,
        selectSet: [{ $type: 'PropertySpec', type: 'x' }],
      }),
    ).toThrow(/PropertySpec is not a SelectionSpec/);
  });

  it('refuses element names that are not XML names', () => {
    expect(() => buildEnvelope('Login><x', propertyCollector)).toThrow(InvalidSpecError);
    expect(() => buildEnvelope('Login', propertyCollector, [['a b', 'x']])).toThrow(
      InvalidSpecError,
    );
  });
});
