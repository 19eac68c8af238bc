/**
 * How a client proves who it is: an API token (stateless, no CSRF, preferred for automation) or
 * a user name and password (a 2-hour ticket plus a CSRF token, renewed by the client).
 */
import { InvalidSpecError } from '@hvkit/core';

/** API token credentials: `Authorization: PVEAPIToken=<tokenId>=<secret>`. */
export interface ProxmoxTokenCredentials {
  type: 'token';
  /** `USER@REALM!TOKENID`, e.g. `automation@pve!hvkit`. */
  tokenId: string;
  /** The token's secret (a UUID). Redacted from every error and log line. */
  secret: string;
}

/** Password credentials: the client logs in through `POST /access/ticket`. */
export interface ProxmoxPasswordCredentials {
  type: 'password';
  /** `USER@REALM`, e.g. `root@pam`. */
  username: string;
  /** Redacted from every error and log line. */
  password: string;
}

/** Either form of credentials. */
export type ProxmoxCredentials = ProxmoxTokenCredentials | ProxmoxPasswordCredentials;

const USER_ID = /^[^\s:@]+@[A-Za-z][A-Za-z0-9.\-_]*$/;
const TOKEN_ID = /^[^\s:@]+@[A-Za-z][A-Za-z0-9.\-_]*![A-Za-z][A-Za-z0-9.\-_]*$/;

/**
 * Checks the shape of credentials before anything is sent.
 *
 * @throws InvalidSpecError naming the field (never its value).
 */
export function validateCredentials(credentials: ProxmoxCredentials): void {
  const issues: { path: string; message: string; code: string }[] = [];
  if (credentials.type === 'token') {
    if (!TOKEN_ID.test(credentials.tokenId)) {
      issues.push({
        path: 'credentials.tokenId',
        message: 'expected USER@REALM!TOKENID',
        code: 'invalid_credentials',
      });
    }
    if (credentials.secret === '' || /[\s]/.test(credentials.secret)) {
      issues.push({
        path: 'credentials.secret',
        message: 'must be non-empty without whitespace',
        code: 'invalid_credentials',
      });
    }
  } else {
    if (!USER_ID.test(credentials.username)) {
      issues.push({
        path: 'credentials.username',
        message: 'expected USER@REALM, e.g. root@pam',
        code: 'invalid_credentials',
      });
    }
    if (credentials.password === '') {
      issues.push({
        path: 'credentials.password',
        message: 'must be non-empty',
        code: 'invalid_credentials',
      });
    }
  }
  if (issues.length > 0) throw new InvalidSpecError(issues, { subject: 'Proxmox credentials' });
}
