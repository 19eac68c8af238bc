import { describe, expect, it } from 'vitest';
import { netplanEthernet } from './network-config.js';

describe('netplanEthernet', () => {
  it('writes static addresses with default routes per family and nameservers', () => {
    expect(
      netplanEthernet(
        {
          network: 'lan',
          ipv4: { address: '192.0.2.10/24', gateway: '192.0.2.1' },
          ipv6: { address: '2001:db8::10/64', gateway: '2001:db8::1' },
          dns: { servers: ['192.0.2.53'], search: ['example.test'] },
        },
        { macaddress: '52:54:00:00:00:01' },
      ),
    ).toEqual({
      match: { macaddress: '52:54:00:00:00:01' },
      dhcp4: false,
      dhcp6: false,
      addresses: ['192.0.2.10/24', '2001:db8::10/64'],
      routes: [
        { to: '0.0.0.0/0', via: '192.0.2.1' },
        { to: '::/0', via: '2001:db8::1' },
      ],
      nameservers: { addresses: ['192.0.2.53'], search: ['example.test'] },
    });
  });

  it('writes DHCP and SLAAC, and nothing for a family the NIC does not mention', () => {
    expect(netplanEthernet({ network: 'lan', ipv4: 'dhcp' }, { name: 'eth0' })).toEqual({
      match: { name: 'eth0' },
      dhcp4: true,
    });
    expect(netplanEthernet({ network: 'lan', ipv6: 'slaac' }, { name: 'eth0' })).toEqual({
      match: { name: 'eth0' },
      dhcp6: false,
      'accept-ra': true,
    });
    expect(netplanEthernet({ network: 'lan', ipv4: 'none' }, { name: 'eth0' })).toEqual({
      match: { name: 'eth0' },
      dhcp4: false,
    });
  });
});
