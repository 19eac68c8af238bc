import type { SimulatorToken, SimulatorUser } from '../auth.js';
import type { HandlerTable } from '../context.js';
import { ApiError } from '../errors.js';

const FULL_CAPABILITIES = {
  vms: Object.fromEntries(
    [
      'VM.Allocate',
      'VM.Audit',
      'VM.Backup',
      'VM.Clone',
      'VM.Config.CDROM',
      'VM.Config.CPU',
      'VM.Config.Cloudinit',
      'VM.Config.Disk',
      'VM.Config.HWType',
      'VM.Config.Memory',
      'VM.Config.Network',
      'VM.Config.Options',
      'VM.Console',
      'VM.Migrate',
      'VM.Monitor',
      'VM.PowerMgmt',
      'VM.Snapshot',
      'VM.Snapshot.Rollback',
      'Permissions.Modify',
    ].map((privilege) => [privilege, 1]),
  ),
  storage: Object.fromEntries(
    [
      'Datastore.Allocate',
      'Datastore.AllocateSpace',
      'Datastore.AllocateTemplate',
      'Datastore.Audit',
      'Permissions.Modify',
    ].map((privilege) => [privilege, 1]),
  ),
  nodes: Object.fromEntries(
    [
      'Sys.Audit',
      'Sys.Console',
      'Sys.Incoming',
      'Sys.Modify',
      'Sys.PowerMgmt',
      'Sys.Syslog',
      'Permissions.Modify',
    ].map((privilege) => [privilege, 1]),
  ),
  access: { 'Group.Allocate': 1, 'User.Modify': 1, 'Permissions.Modify': 1 },
  dc: { 'Sys.Audit': 1, 'SDN.Allocate': 1, 'SDN.Audit': 1, 'SDN.Use': 1 },
  sdn: { 'SDN.Allocate': 1, 'SDN.Audit': 1, 'SDN.Use': 1, 'Permissions.Modify': 1 },
  mapping: { 'Mapping.Audit': 1, 'Mapping.Modify': 1, 'Mapping.Use': 1, 'Permissions.Modify': 1 },
};

/** Every privilege the simulator knows (what `all` expands to). */
const ALL_PRIVILEGES = [
  ...new Set([
    ...Object.values(FULL_CAPABILITIES).flatMap((area) => Object.keys(area)),
    'Pool.Allocate',
    'Pool.Audit',
    'VM.GuestAgent.Audit',
    'VM.GuestAgent.Unrestricted',
  ]),
].sort();

/** Builds `/access/ticket` and `/access/permissions` over the simulator's users. */
export function accessHandlers(users: SimulatorUser[], _tokens: SimulatorToken[]): HandlerTable {
  return {
    'GET /access/permissions': (request) => {
      const { principal, params } = request;
      const privileges =
        principal.privileges === 'all' ? ALL_PRIVILEGES : [...principal.privileges].sort();
      const path = params.path === undefined ? '/' : String(params.path);
      return { [path]: Object.fromEntries(privileges.map((privilege) => [privilege, 1])) };
    },

    'POST /access/ticket': (request) => {
      const { params, context } = request;
      const name = String(params.username);
      const userid = name.includes('@') ? name : `${name}@${params.realm ?? 'pam'}`;
      const password = String(params.password);
      const user = users.find((candidate) => candidate.userid === userid);
      let valid = false;
      if (user && password.startsWith('PVE:')) {
        const owner = context.tickets.verify(password);
        valid = owner === userid || owner === 'root@pam';
      } else if (user) {
        valid = user.password === password;
      }
      if (!valid) throw new ApiError(401, 'authentication failure');
      const { ticket, csrf } = context.tickets.issue(userid);
      return {
        username: userid,
        ticket,
        CSRFPreventionToken: csrf,
        cap: FULL_CAPABILITIES,
        clustername: 'hvkit-sim',
      };
    },
  };
}
