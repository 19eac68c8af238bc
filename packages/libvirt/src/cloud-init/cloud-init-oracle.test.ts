// cloud-init itself as the oracle, where it is installed (Debian: apt-get install cloud-init; with
// /etc/cloud/cloud-init.disabled so it never runs at boot): the seed ISO hvkit builds is unpacked
// with isoinfo -R into a directory, cloud-init's own NoCloud datasource reads it (the same
// `pathprefix2dict` of user-data, meta-data, vendor-data, network-config it runs on the mounted
// cdrom), and its network-state parser reads the network config on a "guest" whose NIC with our
// MAC is called ens3. Measured with cloud-init 22.4.2: without `set-name`, a v2 entry takes the
// name of the interface that has its MAC (cloud-init ≥ 20.1, LP #1855945), so the guest keeps its
// own interface names; older cloud-init would use the entry's key (`nic0`).
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VmSpecSchema } from '@hvkit/core';
import { afterAll, describe, expect, it } from 'vitest';
import { buildNoCloudDocuments } from './nocloud.js';
import { buildSeedIso, seedFiles } from './seed-volume.js';

const READ_SEED = `
import json, sys, tempfile
from unittest import mock
from cloudinit import helpers
from cloudinit.sources.DataSourceNoCloud import DataSourceNoCloud
from cloudinit.net import network_state
seed, macs = sys.argv[1], json.loads(sys.argv[2])
tmp = tempfile.mkdtemp()
ds = DataSourceNoCloud({"datasource": {"NoCloud": {"fs_label": None}}}, None,
                       helpers.Paths({"cloud_dir": tmp, "run_dir": tmp}))
ds.seed_dirs = [seed]
ok = ds.get_data()
with mock.patch("cloudinit.net.get_interfaces_by_mac", return_value=macs), \\
     mock.patch("cloudinit.net.network_state.get_interfaces_by_mac", return_value=macs):
    state = network_state.parse_net_config_data(ds.network_config)
print(json.dumps({
    "ok": ok,
    "instanceId": ds.get_instance_id(),
    "fqdn": ds.get_hostname(fqdn=True).hostname,
    "hostname": ds.get_hostname(fqdn=False).hostname,
    "userData": ds.userdata_raw.decode(),
    "vendorData": (ds.vendordata_raw or b"").decode(),
    "interfaces": {i["name"]: {"mac": i.get("mac_address"), "subnets": i.get("subnets")}
                   for i in state.iter_interfaces() if i["type"] == "physical"},
}, default=str))
`;

function works(command: string, args: string[]): boolean {
  try {
    execFileSync(command, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** cloud-init lives in the system Python (a pyenv `python3` on PATH does not have it). */
const python = ['python3', '/usr/bin/python3'].find((candidate) =>
  works(candidate, ['-c', 'import cloudinit.sources.DataSourceNoCloud']),
);
const hasIsoinfo = works('isoinfo', ['-version']);
// Made only when the suite runs (a skipped file runs no afterAll).
let work = '';
afterAll(() => {
  if (work !== '') rmSync(work, { recursive: true, force: true });
});

describe.skipIf(python === undefined || !hasIsoinfo)(
  "cloud-init's NoCloud datasource reads the seed",
  () => {
    it('instance-id, host name, user-data, vendor-data and the static NIC matched by MAC', () => {
      const uuid = '0d9f6c1e-52a4-4c1b-9a0e-3b7d5f2a1c88';
      const userData = '#cloud-config\nruncmd:\n  - [echo, "hvkit seed"]\n';
      const spec = VmSpecSchema.parse({
        name: 'oracle',
        cpu: { count: 1 },
        memory: { sizeMiB: 128 },
        cloudInit: { userData },
        customization: { hostname: 'db', domain: 'corp.example', timeZone: 'Europe/Paris' },
        nics: [
          { network: 'default' },
          {
            network: 'default',
            mac: '52:54:00:C1:00:02',
            ipv4: { address: '192.168.122.50/24', gateway: '192.168.122.1' },
            dns: { servers: ['192.168.122.1'], search: ['corp.example'] },
          },
        ],
      });
      const plan = buildNoCloudDocuments(spec, { instanceId: uuid });
      if (plan === undefined) throw new Error('the spec needs a seed');
      work = mkdtempSync(join(tmpdir(), 'hvkit-ci-oracle-'));
      const iso = join(work, 'seed.iso');
      writeFileSync(iso, buildSeedIso(plan.documents));
      const seed = join(work, 'seed');
      mkdirSync(seed);
      for (const file of seedFiles(plan.documents)) {
        writeFileSync(
          join(seed, file.name),
          execFileSync('isoinfo', ['-R', '-i', iso, '-x', `/${file.name}`]),
        );
      }

      const macs = { '52:54:00:c1:00:01': 'ens2', '52:54:00:c1:00:02': 'ens3' };
      const read = JSON.parse(
        execFileSync(python ?? 'python3', ['-c', READ_SEED, seed, JSON.stringify(macs)], {
          encoding: 'utf8',
        }),
      ) as Record<string, unknown>;
      expect(read).toMatchObject({
        ok: true,
        instanceId: uuid,
        fqdn: 'db.corp.example',
        hostname: 'db',
        userData,
        vendorData: plan.documents.vendorData,
      });
      // Only the NIC that asked for addressing, under the guest's own name for its MAC.
      expect(read.interfaces).toEqual({
        ens3: {
          mac: '52:54:00:c1:00:02',
          subnets: [
            {
              type: 'static',
              address: '192.168.122.50',
              prefix: 24,
              netmask: '255.255.255.0',
              dns_nameservers: ['192.168.122.1'],
              dns_search: ['corp.example'],
              routes: [
                { gateway: '192.168.122.1', network: '0.0.0.0', netmask: '0.0.0.0', prefix: 0 },
              ],
            },
          ],
        },
      });
    });
  },
);
