// The vcsim test beds themselves, with raw SOAP over undici: the shared bed
// from global-setup.ts (TLS verified with its own certificate, strict Login)
// and a private bed from startVcsim() (idle session expiry, kill, restart on
// the same port with the same certificate, clean-up). If these fail, every
// vSphere test against vcsim is suspect, so they run first in a failure hunt.
import { existsSync } from 'node:fs';
import { connect } from 'node:tls';
import { Agent, fetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { escapeXml } from '../src/soap/soap-escape.js';
import { requireVcsim, type VcsimReady } from './vcsim.js';
import { startVcsim, type VcsimBed } from './vcsim-bed.js';

const vcsim = requireVcsim();

const envelope = (body: string) =>
  `<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <soapenv:Body>${body}</soapenv:Body>
</soapenv:Envelope>`;

const RETRIEVE_SERVICE_CONTENT = envelope(
  '<RetrieveServiceContent xmlns="urn:vim25"><_this type="ServiceInstance">ServiceInstance</_this></RetrieveServiceContent>',
);
// Needs a session (vcsim lets only RetrieveServiceContent, Login and property
// reads through without one), so it tells a live session from an expired one.
const CURRENT_TIME = envelope(
  '<CurrentTime xmlns="urn:vim25"><_this type="ServiceInstance">ServiceInstance</_this></CurrentTime>',
);
const login = (userName: string, password: string) =>
  envelope(
    `<Login xmlns="urn:vim25"><_this type="SessionManager">SessionManager</_this><userName>${escapeXml(userName, 'userName')}</userName><password>${escapeXml(password, 'password')}</password><locale>en_US</locale></Login>`,
  );

interface SoapReply {
  status: number;
  text: string;
  cookie: string | undefined;
}

async function soap(
  bed: VcsimReady,
  body: string,
  dispatcher: Agent,
  cookie?: string,
): Promise<SoapReply> {
  const response = await fetch(bed.url, {
    method: 'POST',
    dispatcher,
    headers: {
      'content-type': 'text/xml; charset=utf-8',
      soapaction: 'urn:vim25/6.5',
      ...(cookie ? { cookie } : {}),
    },
    body,
  });
  const setCookie = response.headers.get('set-cookie');
  const session = setCookie?.match(/vmware_soap_session=[^;]+/)?.[0];
  return { status: response.status, text: await response.text(), cookie: session };
}

/** Every `code` along an error's cause chain (undici wraps the socket error in "fetch failed"). */
function errorCodes(error: unknown): string[] {
  const codes: string[] = [];
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    const code = (e as Error & { code?: unknown }).code;
    if (typeof code === 'string') codes.push(code);
  }
  return codes;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the request to fail, it succeeded');
}

/** The SHA-256 fingerprint of the certificate the bed actually serves. */
function servedFingerprint(bed: VcsimReady): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const socket = connect({ host: bed.host, port: bed.port, ca: bed.certificatePem }, () => {
      resolvePromise(socket.getPeerCertificate().fingerprint256);
      socket.end();
    });
    socket.once('error', reject);
  });
}

const trusting = (bed: VcsimReady) => new Agent({ connect: { ca: bed.certificatePem } });

describe.skipIf(!vcsim)('shared vcsim bed (global-setup.ts)', () => {
  const bed = vcsim as VcsimReady;
  const agents: Agent[] = [];
  afterAll(() => Promise.all(agents.map((agent) => agent.close())));

  it('answers RetrieveServiceContent over TLS verified against its own certificate', async () => {
    const agent = trusting(bed);
    agents.push(agent);
    const reply = await soap(bed, RETRIEVE_SERVICE_CONTENT, agent);
    expect(reply.status).toBe(200);
    expect(reply.text).toContain('<apiType>VirtualCenter</apiType>');
    expect(reply.text).toContain('<rootFolder type="Folder">');
    expect(bed.url).toBe(`https://${bed.host}:${bed.port}/sdk`);
  });

  it('is refused by a client that does not trust its certificate', async () => {
    const agent = new Agent();
    agents.push(agent);
    const error = await rejection(soap(bed, RETRIEVE_SERVICE_CONTENT, agent));
    expect(errorCodes(error)).toContain('DEPTH_ZERO_SELF_SIGNED_CERT');
  });

  it('serves the certificate whose fingerprint the readiness file names', async () => {
    expect(bed.fingerprint256).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    expect(await servedFingerprint(bed)).toBe(bed.fingerprint256);
  });

  it('accepts only its own credentials at Login', async () => {
    const agent = trusting(bed);
    agents.push(agent);
    const good = await soap(bed, login(bed.username, bed.password), agent);
    expect(good.status).toBe(200);
    expect(good.cookie).toMatch(/^vmware_soap_session=/);
    const bad = await soap(bed, login(bed.username, `${bed.password}-wrong`), agent);
    expect(bad.status).toBe(500);
    expect(bad.text).toContain('xsi:type="InvalidLogin"');
    expect(bad.cookie).toBeUndefined();
  });
});

describe.skipIf(!vcsim)('startVcsim: a private bed', () => {
  let bed: VcsimBed;
  let agent: Agent;
  beforeAll(async () => {
    bed = await startVcsim({ vms: 4, idleSeconds: 2, api: false });
    agent = trusting(bed.ready);
  }, 120_000); // a cold build of vcsim-hvkit takes about 30 s (normally start.sh did it already)
  afterAll(async () => {
    await agent?.close();
    await bed?.stop();
  });

  it('listens on 127.0.0.1 and a port of its own, with the settings asked for', async () => {
    expect(bed.ready.host).toBe('127.0.0.1');
    expect(bed.ready.port).toBeGreaterThan(0);
    expect(bed.ready.port).not.toBe(vcsim?.port);
    expect(bed.ready.idleTimeout).toBe('2s');
    expect(bed.ready.api).toBe(false);
    expect(bed.ready.vms).toBe(4);
    const reply = await soap(bed.ready, RETRIEVE_SERVICE_CONTENT, agent);
    expect(reply.status).toBe(200);
  });

  it('expires a session left idle past -idle with NotAuthenticated', async () => {
    const session = await soap(bed.ready, login(bed.ready.username, bed.ready.password), agent);
    expect(session.cookie).toBeDefined();
    const live = await soap(bed.ready, CURRENT_TIME, agent, session.cookie);
    expect(live.status).toBe(200);
    expect(live.text).toContain('<returnval>');
    // vcsim checks each session on a timer of the idle period (2 s) started
    // at Login, and drops it at the first tick that finds it idle longer than
    // that: after the call above, the tick 4 s after Login. 2 s rather than 1
    // so a loaded machine pausing between Login and that call cannot expire
    // the session early; 5 s of waiting leaves a second for late ticks.
    await new Promise((resolvePromise) => setTimeout(resolvePromise, 5_000));
    const expired = await soap(bed.ready, CURRENT_TIME, agent, session.cookie);
    expect(expired.status).toBe(500);
    expect(expired.text).toContain('xsi:type="NotAuthenticated"');
  }, 15_000);

  it('is unreachable after kill() and back on the same port and certificate after restart()', async () => {
    const before = bed.ready;
    const session = await soap(before, login(before.username, before.password), agent);
    expect(session.cookie).toBeDefined();

    await bed.kill();
    expect(() => process.kill(before.pid, 0)).toThrow();
    const fresh = trusting(before); // a new pool: no kept-alive socket to the dead process
    const error = await rejection(soap(before, RETRIEVE_SERVICE_CONTENT, fresh));
    await fresh.close();
    expect(errorCodes(error)).toContain('ECONNREFUSED');

    await bed.restart();
    expect(bed.ready.pid).not.toBe(before.pid);
    expect(bed.ready.port).toBe(before.port);
    expect(bed.ready.fingerprint256).toBe(before.fingerprint256);
    expect(await servedFingerprint(bed.ready)).toBe(before.fingerprint256);
    // The agent built from the first start's certificate still verifies it.
    const reply = await soap(bed.ready, RETRIEVE_SERVICE_CONTENT, agent);
    expect(reply.status).toBe(200);
    // A restarted vcsim has forgotten every session: clients must log in again.
    const stale = await soap(bed.ready, CURRENT_TIME, agent, session.cookie);
    expect(stale.text).toContain('xsi:type="NotAuthenticated"');
  });

  it('removes its temp directories on stop() and comes back after restart()', async () => {
    const before = bed.ready;
    await bed.stop();
    expect(() => process.kill(before.pid, 0)).toThrow();
    expect(existsSync(bed.stateDir)).toBe(false);
    expect(existsSync(bed.datastoreDir)).toBe(false);

    await bed.restart();
    expect(bed.ready.port).toBe(before.port);
    expect(await servedFingerprint(bed.ready)).toBe(before.fingerprint256);
    expect((await soap(bed.ready, RETRIEVE_SERVICE_CONTENT, agent)).status).toBe(200);
  });
});

describe.skipIf(!vcsim)('startVcsim: a bed that cannot start', () => {
  it('rejects with the log tail when the binary exits early', async () => {
    const error = await rejection(startVcsim({ extraArgs: ['-vms', '-1'] }));
    expect(String(error)).toMatch(/exited \(code 1\) before it was ready/);
    expect(String(error)).toContain('-vms must be >= 0');
  });

  it('rejects when the bed is not ready in time', async () => {
    const error = await rejection(startVcsim({ startTimeoutMs: 0 }));
    expect(String(error)).toMatch(/not ready after 0 ms/);
  });
});
