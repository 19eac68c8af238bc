import { describe, expect, it } from 'vitest';
import { serializeElement } from './soap-envelope.js';
import { fieldsOf, isSubtypeOf, isXsdScalar, VIM_TYPES } from './vim-types.js';

// Expected orders below are copied from govmomi 0.24.2 vim25/types/types.go (Debian
// golang-github-vmware-govmomi-dev), base struct fields first: they pin the generated table to
// the reference, so a generator bug that reorders fields fails here and not on a real vCenter.

describe('field order, as types.go declares it', () => {
  it('VirtualMachineConfigSpec starts changeVersion, name, version, createDate, uuid, …', () => {
    expect(fieldsOf('VirtualMachineConfigSpec')?.slice(0, 14)).toEqual([
      ['changeVersion', 'string'],
      ['name', 'string'],
      ['version', 'string'],
      ['createDate', 'dateTime'],
      ['uuid', 'string'],
      ['instanceUuid', 'string'],
      ['npivNodeWorldWideName', 'long'],
      ['npivPortWorldWideName', 'long'],
      ['npivWorldWideNameType', 'string'],
      ['npivDesiredNodeWwns', 'short'],
      ['npivDesiredPortWwns', 'short'],
      ['npivTemporaryDisabled', 'boolean'],
      ['npivOnNonRdmDisks', 'boolean'],
      ['npivWorldWideNameOp', 'string'],
    ]);
    const names = fieldsOf('VirtualMachineConfigSpec')?.map(([name]) => name) ?? [];
    // deviceChange sits between the hot-plug flags and the allocations, extraConfig later.
    expect(
      names.slice(names.indexOf('virtualSMCPresent'), names.indexOf('virtualSMCPresent') + 4),
    ).toEqual(['virtualSMCPresent', 'deviceChange', 'cpuAllocation', 'memoryAllocation']);
    expect(names.indexOf('extraConfig')).toBeGreaterThan(names.indexOf('deviceChange'));
    expect(names.at(-1)).toBe('sevEnabled');
  });

  it('VirtualDisk: VirtualDevice fields, then its own', () => {
    expect(fieldsOf('VirtualDisk')).toEqual([
      ['key', 'int'],
      ['deviceInfo', 'Description'],
      ['backing', 'VirtualDeviceBackingInfo'],
      ['connectable', 'VirtualDeviceConnectInfo'],
      ['slotInfo', 'VirtualDeviceBusSlotInfo'],
      ['controllerKey', 'int'],
      ['unitNumber', 'int'],
      ['capacityInKB', 'long'],
      ['capacityInBytes', 'long'],
      ['shares', 'SharesInfo'],
      ['storageIOAllocation', 'StorageIOAllocationInfo'],
      ['diskObjectId', 'string'],
      ['vFlashCacheConfigInfo', 'VirtualDiskVFlashCacheConfigInfo'],
      ['iofilter', 'string'],
      ['vDiskId', 'ID'],
      ['nativeUnmanagedLinkedClone', 'boolean'],
    ]);
  });

  it('VirtualDiskFlatVer2BackingInfo: file backing fields, then its own', () => {
    expect(fieldsOf('VirtualDiskFlatVer2BackingInfo')?.map(([name]) => name)).toEqual([
      'fileName',
      'datastore',
      'backingObjectId',
      'diskMode',
      'split',
      'writeThrough',
      'thinProvisioned',
      'eagerlyScrub',
      'uuid',
      'contentId',
      'changeId',
      'parent',
      'deltaDiskFormat',
      'digestEnabled',
      'deltaGrainSize',
      'deltaDiskFormatVariant',
      'sharing',
      'keyId',
    ]);
    expect(fieldsOf('VirtualDiskFlatVer2BackingInfo')?.[11]).toEqual([
      'parent',
      'VirtualDiskFlatVer2BackingInfo',
    ]);
  });

  it('VirtualDeviceConfigSpec, VirtualEthernetCardNetworkBackingInfo, TraversalSpec', () => {
    expect(fieldsOf('VirtualDeviceConfigSpec')).toEqual([
      ['operation', 'string'],
      ['fileOperation', 'string'],
      ['device', 'VirtualDevice'],
      ['profile', 'VirtualMachineProfileSpec'],
      ['backing', 'VirtualDeviceConfigSpecBackingSpec'],
    ]);
    expect(fieldsOf('VirtualEthernetCardNetworkBackingInfo')).toEqual([
      ['deviceName', 'string'],
      ['useAutoDetect', 'boolean'],
      ['network', 'ManagedObjectReference'],
      ['inPassthroughMode', 'boolean'],
    ]);
    expect(fieldsOf('TraversalSpec')).toEqual([
      ['name', 'string'],
      ['type', 'string'],
      ['path', 'string'],
      ['skip', 'boolean'],
      ['selectSet', 'SelectionSpec'],
    ]);
  });

  it('ClusterAntiAffinityRuleSpec: ClusterRuleInfo fields, then vm', () => {
    expect(fieldsOf('ClusterAntiAffinityRuleSpec')?.map(([name]) => name)).toEqual([
      'key',
      'status',
      'enabled',
      'name',
      'mandatory',
      'userCreated',
      'inCompliance',
      'ruleUuid',
      'vm',
    ]);
  });
});

describe('the table', () => {
  it('names only types it holds, scalars, anyType or ManagedObjectReference', () => {
    const missing: string[] = [];
    for (const [name, info] of Object.entries(VIM_TYPES)) {
      if (info.base !== undefined && !Object.hasOwn(VIM_TYPES, info.base)) {
        missing.push(`${name} base ${info.base}`);
      }
      for (const [field, type] of info.fields) {
        const known =
          isXsdScalar(type) ||
          type === 'anyType' ||
          type === 'ManagedObjectReference' ||
          Object.hasOwn(VIM_TYPES, type);
        if (!known) missing.push(`${name}.${field}: ${type}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('holds no faults and no method wrappers', () => {
    const names = Object.keys(VIM_TYPES);
    expect(names.filter((name) => /(Fault|RequestType|Response)$/.test(name))).toEqual([]);
    // The server-set fault of an install record is dropped; the fields around it stay in order.
    expect(fieldsOf('ToolsConfigInfoToolsLastInstallInfo')).toEqual([['counter', 'int']]);
  });

  it.each([
    'PropertyFilterSpec',
    'RetrieveOptions',
    'WaitOptions',
    'OptionValue',
    'VirtualMachineCloneSpec',
    'VirtualMachineRelocateSpec',
    'CustomizationSpec',
    'CustomizationLinuxPrep',
    'CustomizationSysprep',
    'ClusterConfigSpecEx',
    'ResourceConfigSpec',
    'PerfQuerySpec',
    'EventFilterSpec',
    'OvfCreateImportSpecParams',
    'VirtualMachineImportSpec',
    'VirtualAppImportSpec',
    'FileBackedVirtualDiskSpec',
    'VirtualCdrom',
    'VirtualCdromIsoBackingInfo',
    'VirtualFloppy',
    'ParaVirtualSCSIController',
    'VirtualLsiLogicSASController',
    'VirtualAHCIController',
    'VirtualNVMEController',
    'VirtualE1000e',
    'VirtualEthernetCardDistributedVirtualPortBackingInfo',
    'VirtualSerialPort',
    'VirtualUSBXHCIController',
  ])('holds %s', (type) => {
    expect(fieldsOf(type)).toBeDefined();
  });

  it('resolves subtypes along the base chain', () => {
    expect(isSubtypeOf('VirtualDisk', 'VirtualDevice')).toBe(true);
    expect(isSubtypeOf('VirtualVmxnet3', 'VirtualEthernetCard')).toBe(true);
    expect(isSubtypeOf('ClusterAntiAffinityRuleSpec', 'ClusterRuleInfo')).toBe(true);
    expect(isSubtypeOf('FileBackedVirtualDiskSpec', 'VirtualDiskSpec')).toBe(true);
    expect(isSubtypeOf('VirtualMachineImportSpec', 'ImportSpec')).toBe(true);
    expect(isSubtypeOf('VirtualDisk', 'VirtualEthernetCard')).toBe(false);
    expect(isSubtypeOf('VirtualDevice', 'VirtualDisk')).toBe(false);
    expect(isSubtypeOf('NoSuchType', 'DynamicData')).toBe(false);
  });

  it('takes no inherited object property for a type', () => {
    expect(fieldsOf('toString')).toBeUndefined();
    expect(fieldsOf('__proto__')).toBeUndefined();
    expect(isSubtypeOf('constructor', 'DynamicData')).toBe(false);
  });
});

describe('a VirtualMachineConfigSpec with a disk and a vmxnet3', () => {
  it('is written in vim25 order with xsi:type on every subtype, element by element', () => {
    const xml = serializeElement(
      'spec',
      {
        $type: 'VirtualMachineConfigSpec',
        // Given out of schema order on purpose: the writer must follow vim25's order.
        extraConfig: [{ $type: 'OptionValue', key: 'disk.EnableUUID', value: 'TRUE' }],
        deviceChange: [
          {
            $type: 'VirtualDeviceConfigSpec',
            device: {
              $type: 'VirtualDisk',
              capacityInKB: 10485760,
              unitNumber: 0,
              controllerKey: 1000,
              backing: {
                $type: 'VirtualDiskFlatVer2BackingInfo',
                thinProvisioned: true,
                diskMode: 'persistent',
                datastore: { type: 'Datastore', value: 'datastore-12' },
                fileName: '',
              },
              key: -1,
            },
            fileOperation: 'create',
            operation: 'add',
          },
          {
            $type: 'VirtualDeviceConfigSpec',
            operation: 'add',
            device: {
              $type: 'VirtualVmxnet3',
              addressType: 'generated',
              connectable: {
                $type: 'VirtualDeviceConnectInfo',
                connected: false,
                allowGuestControl: true,
                startConnected: true,
              },
              backing: {
                $type: 'VirtualEthernetCardNetworkBackingInfo',
                network: { type: 'Network', value: 'network-7' },
                deviceName: 'VM Network',
              },
              key: -2,
            },
          },
        ],
        memoryMB: 2048,
        numCPUs: 2,
        guestId: 'otherGuest64',
        createDate: '2026-11-21T15:26:31.000Z',
        name: 'web-01',
      },
      'VirtualMachineConfigSpec',
    );
    expect(xml.split(/(?=<)/)).toEqual([
      '<spec>',
      '<name>web-01',
      '</name>',
      '<createDate>2026-11-21T15:26:31.000Z',
      '</createDate>',
      '<guestId>otherGuest64',
      '</guestId>',
      '<numCPUs>2',
      '</numCPUs>',
      '<memoryMB>2048',
      '</memoryMB>',
      '<deviceChange>',
      '<operation>add',
      '</operation>',
      '<fileOperation>create',
      '</fileOperation>',
      '<device xsi:type="VirtualDisk">',
      '<key>-1',
      '</key>',
      '<backing xsi:type="VirtualDiskFlatVer2BackingInfo">',
      '<fileName>',
      '</fileName>',
      '<datastore type="Datastore">datastore-12',
      '</datastore>',
      '<diskMode>persistent',
      '</diskMode>',
      '<thinProvisioned>true',
      '</thinProvisioned>',
      '</backing>',
      '<controllerKey>1000',
      '</controllerKey>',
      '<unitNumber>0',
      '</unitNumber>',
      '<capacityInKB>10485760',
      '</capacityInKB>',
      '</device>',
      '</deviceChange>',
      '<deviceChange>',
      '<operation>add',
      '</operation>',
      '<device xsi:type="VirtualVmxnet3">',
      '<key>-2',
      '</key>',
      '<backing xsi:type="VirtualEthernetCardNetworkBackingInfo">',
      '<deviceName>VM Network',
      '</deviceName>',
      '<network type="Network">network-7',
      '</network>',
      '</backing>',
      '<connectable>',
      '<startConnected>true',
      '</startConnected>',
      '<allowGuestControl>true',
      '</allowGuestControl>',
      '<connected>false',
      '</connected>',
      '</connectable>',
      '<addressType>generated',
      '</addressType>',
      '</device>',
      '</deviceChange>',
      '<extraConfig>',
      '<key>disk.EnableUUID',
      '</key>',
      '<value xsi:type="xsd:string">TRUE',
      '</value>',
      '</extraConfig>',
      '</spec>',
    ]);
  });
});
