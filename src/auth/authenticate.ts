/**
 * Turns credentials into a principal: HTTP Basic, `Authorization: Bearer <token>`, the session
 * cookie, or `?access_token=` (stream URLs only, because EventSource cannot send headers).
 * No credentials give the anonymous principal; wrong ones are a 401, never a silent downgrade.
 * Password checks (login, token, Basic) are bounded per client address and server-wide (login-guard.ts).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { AuthConfig } from '../config.ts';
import { AppError } from '../errors.ts';
import { createLoginGuard, defaultMaxConcurrentLogins } from './login-guard.ts';
import { hashPassword, verifyPassword } from './password.ts';
import { checkPasswordChange, effectiveHash, type PasswordStore } from './passwords.ts';
import { ANONYMOUS, type Principal } from './policy.ts';
import { createTokenSigner, type RevocationRelay, type TokenClaims } from './tokens.ts';
import type { Peers } from '../peers/peers.ts';

export const SESSION_COOKIE = 'tablecast_session';

export interface Credentials {
  authorization?: string | undefined;
  cookie?: string | undefined;
  accessToken?: string | undefined;
  address: string;
}

export interface Authenticator {
  authenticate(credentials: Credentials): Promise<Principal>;
  /** Checks a user name and password (rate-limited per address). */
  login(username: string, password: string, address: string): Promise<Principal>;
  /** A bearer token or session cookie value for a logged-in user. */
  /** A token for a principal whose password was checked (`login`, Basic): it carries that check's password generation. */
  issue(principal: Principal, kind: TokenClaims['kind']): { token: string; expiresIn: number };
  /** Revokes the session or bearer token among the credentials, if any; resolves once every process refuses it. */
  logout(credentials: Credentials): Promise<void>;
  /** Refuses a token id on this process until `exp` (epoch s): a cluster node applying another node's logout. */
  refuse(jti: string, exp: number): void;
  /**
   * Changes the caller's own password, given the current one (checked under the login bounds;
   * wrong is 403) and a body `{ current, password }`. Every token and session of the user issued
   * before ends. Only users with `changePassword: true`, and only with a password store.
   */
  changePassword(principal: Principal, body: unknown, address: string): Promise<void>;
}

/**
 * Creates the authenticator for an auth config (absent config: everyone is anonymous).
 * @example const auth = createAuthenticator(config.auth, secret)
 */
export function createAuthenticator(
  auth: AuthConfig | undefined,
  secret: string | Buffer,
  now: () => number = Date.now,
  peers?: Peers,
  relay?: RevocationRelay,
  passwords?: PasswordStore,
): Authenticator {
  const tokens = createTokenSigner(secret, peers, relay);
  const users = auth?.users ?? {};
  const guard = createLoginGuard({
    loginRate: auth?.loginRate ?? 10,
    maxConcurrent: auth?.maxConcurrentLogins ?? defaultMaxConcurrentLogins(),
    maxQueued: auth?.maxQueuedLogins ?? 32,
    now,
    ...(peers ? { peers } : {}),
  });
  // Keyed hashes of credentials, never the credentials themselves, for the two maps below.
  const cacheKey = randomBytes(16);
  const keyOf = (...parts: string[]) => {
    const h = createHash('sha256').update(cacheKey);
    for (const p of parts) h.update(p).update('\0');
    return h.digest('base64');
  };
  // Successful Basic checks: scrypt costs tens of ms, too much per request.
  // `generation` of the user's password when checked: a change (in any process) makes it stale.
  const basicCache = new Map<string, { user: string; until: number; generation: number }>();
  // Checks running now, by user name and password: identical concurrent ones (a client opening
  // several requests with the same Basic header on a cold cache) share one check and one
  // reservation, instead of each taking one of the address's `loginRate` checks. `generation`: of
  // the password the check is against, read with its hash.
  const running = new Map<string, { check: Promise<boolean>; generation: number }>();

  // Only users allowed to change their password have a store read per check: the others' tokens
  // verify with none, and turning `changePassword` off brings back the configuration's password.
  const changedOf = (user: string) => (users[user]?.changePassword ? passwords?.get(user) : undefined);
  /** How often `user`'s password was changed at run time (tokens carry it: older ones are refused). */
  const generationOf = (user: string): number => changedOf(user)?.generation ?? 0;
  /** The hash `user`'s password is checked against: a changed one, or the configuration's. */
  const hashOf = (user: string): string | undefined => {
    const entry = users[user];
    return entry && effectiveHash(entry.password, changedOf(user));
  };

  const principalOf = (user: string, via: Principal['via'], expiresAt?: number): Principal => {
    const entry = users[user];
    if (!entry) throw unauthorized('unknown user');
    return { user, roles: entry.roles, via, ...(expiresAt !== undefined ? { expiresAt } : {}) };
  };

  /** A principal whose password was checked at `generation`: it lapses when the password changes. */
  const checkedPrincipal = (user: string, generation: number): Principal => ({
    ...principalOf(user, 'basic'),
    generation,
    lapsed: () => generation !== generationOf(user),
  });

  const login = async (username: string, password: string, address: string): Promise<Principal> => {
    guard.assertAllowed(address);
    const key = keyOf(username, password);
    let pending = running.get(key);
    if (!pending) {
      const hash = hashOf(username);
      const generation = generationOf(username);
      // Hash even for unknown users, so timing does not tell which user names exist.
      const check = guard.check(address, async () => (await verifyPassword(password, hash ?? DUMMY_HASH)) && hash !== undefined);
      pending = { check, generation };
      running.set(key, pending);
      const forget = () => running.delete(key);
      check.then(forget, forget);
    }
    if (!(await pending.check)) throw unauthorized('wrong user name or password');
    return checkedPrincipal(username, pending.generation);
  };

  const fromToken = (token: string, via: Principal['via']): Principal => {
    const claims = tokens.verify(token, now());
    if (!claims) throw unauthorized(via === 'cookie' ? 'the session has expired; log in again' : 'the token is invalid or has expired', INVALID_TOKEN_CHALLENGE);
    // A session cookie is not a bearer token, nor the other way round: the cookie is HttpOnly so
    // that scripts never hold it, which means nothing if its value also works in a header; and a
    // bearer token set as a cookie would ride along on every browser request to this site.
    if (claims.kind !== kindOf(via)) {
      throw unauthorized(
        via === 'cookie' ? 'the session cookie holds a bearer token; log in with POST /auth/login' : `a session token is not a bearer token; get one from POST /auth/token`,
        INVALID_TOKEN_CHALLENGE,
      );
    }
    const generation = claims.gen ?? 0;
    if (generation !== generationOf(claims.sub)) throw unauthorized('the password was changed since this token was issued; log in again', INVALID_TOKEN_CHALLENGE);
    const jti = claims.jti;
    return { ...principalOf(claims.sub, via, claims.exp * 1000), generation, lapsed: () => tokens.isRevoked(jti) || generation !== generationOf(claims.sub) };
  };

  return {
    async authenticate({ authorization, cookie, accessToken, address }) {
      if (authorization) {
        const [scheme = '', value = ''] = authorization.split(/\s+/, 2);
        if (/^bearer$/i.test(scheme)) return fromToken(value, 'bearer');
        if (/^basic$/i.test(scheme)) {
          const key = keyOf(value);
          const hit = basicCache.get(key);
          if (hit && hit.until > now() && hit.generation === generationOf(hit.user)) return checkedPrincipal(hit.user, hit.generation);
          const decoded = Buffer.from(value, 'base64').toString('utf8');
          const colon = decoded.indexOf(':');
          if (colon < 0) throw unauthorized('malformed Basic credentials', BASIC_CHALLENGE);
          const principal = await login(decoded.slice(0, colon), decoded.slice(colon + 1), address).catch((err: AppError) => {
            // Answered with the scheme the client used (the JSON login form keeps the Bearer
            // challenge: a Basic one there would make browsers open their own password dialog).
            throw err.code === 'UNAUTHORIZED' ? unauthorized(err.message, BASIC_CHALLENGE) : err;
          });
          if (basicCache.size > 1000) basicCache.clear();
          basicCache.set(key, { user: principal.user!, until: now() + 60_000, generation: principal.generation ?? 0 });
          return principal;
        }
        throw unauthorized(`unsupported authorization scheme "${scheme}" (use Basic or Bearer)`);
      }
      if (accessToken) return fromToken(accessToken, 'access_token');
      const session = cookie ? readCookie(cookie, SESSION_COOKIE) : undefined;
      if (session) return fromToken(session, 'cookie');
      return ANONYMOUS;
    },
    login,
    issue(principal, kind) {
      const user = principal.user;
      if (user === null) throw unauthorized('log in first');
      const ttl = kind === 'session' ? (auth?.sessionTtl ?? 86_400) : (auth?.tokenTtl ?? 3600);
      return { token: tokens.sign(user, kind, ttl, now(), principal.generation ?? generationOf(user)).token, expiresIn: ttl };
    },
    async changePassword(principal, body, address) {
      const user = principal.user;
      if (user === null) throw unauthorized('log in to change your password');
      if (!passwords || !users[user]?.changePassword) {
        throw new AppError('FORBIDDEN', `user ${user} may not change its password here (auth.users.${user}.changePassword is not set)`);
      }
      const { current, password } = checkPasswordChange(body);
      // Through `login`: a wrong current password counts against the address's login rate. A 403,
      // not a 401: the request's own credentials are fine, and a 401 tells clients to drop them.
      const checked = await login(user, current, address).catch((err: AppError) => {
        throw err.code === 'UNAUTHORIZED' ? new AppError('FORBIDDEN', 'the current password is wrong') : err;
      });
      // Hashing the new one under the same bounds as a check (its reservation is given back).
      let hash = '';
      await guard.check(address, async () => {
        hash = await hashPassword(password);
        return true;
      });
      // Only over the password that was checked: a change landing meanwhile wins, this one is a CONFLICT.
      await passwords.set(user, hash, users[user].password, checked.generation ?? 0);
    },
    refuse: (jti, exp) => tokens.refuse(jti, exp),
    async logout({ authorization, cookie }) {
      const bearer = authorization && /^bearer\s+/i.test(authorization) ? authorization.replace(/^bearer\s+/i, '') : undefined;
      const token = bearer ?? (cookie ? readCookie(cookie, SESSION_COOKIE) : undefined);
      const claims = token ? tokens.verify(token, now()) : undefined;
      // Only a token of the kind its place accepts, as everywhere else.
      if (claims && claims.kind === (bearer !== undefined ? 'bearer' : 'session')) await tokens.revoke(claims, now());
    },
  };
}

/** The token kind a credential's place accepts: the cookie holds sessions, everything else bearer tokens. */
function kindOf(via: Principal['via']): TokenClaims['kind'] {
  return via === 'cookie' ? 'session' : 'bearer';
}

/** A cookie's value from a `Cookie` header. */
export function readCookie(header: string, name: string): string | undefined {
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      const value = part.slice(eq + 1).trim();
      // A malformed %-escape (a cookie this server never set) made decodeURIComponent throw a
      // URIError, which became a 500; as it stands it is just a value that fails verification (401).
      try {
        return decodeURIComponent(value);
      } catch {
        return value;
      }
    }
  }
  return undefined;
}

/**
 * The challenge names the scheme the client tried: a failed Basic login is answered with a Basic
 * challenge (RFC 7617), a bad token with RFC 6750's `error="invalid_token"`: a Bearer challenge
 * would tell a Basic client nothing about what went wrong.
 */
const BEARER_CHALLENGE = 'Bearer realm="tablecast"';
const BASIC_CHALLENGE = 'Basic realm="tablecast", charset="UTF-8"';
const INVALID_TOKEN_CHALLENGE = 'Bearer realm="tablecast", error="invalid_token"';

function unauthorized(message: string, challenge = BEARER_CHALLENGE): AppError {
  return new AppError('UNAUTHORIZED', message, { headers: { 'www-authenticate': challenge } });
}

/** A valid hash of a random password, verified against for unknown users. */
const DUMMY_HASH = 'scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA$ZGVhZGJlZWZkZWFkYmVlZmRlYWRiZWVmZGVhZGJlZWY';
