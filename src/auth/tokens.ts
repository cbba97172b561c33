/**
 * Signed, expiring tokens for `Authorization: Bearer`, the session cookie and `?access_token=`:
 * `base64url(payload).base64url(HMAC-SHA256)`. Stateless, so any number of streams can verify them
 * without a store read; logout revokes a token's id in memory until the token would have expired.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { soloPeers, type Peers } from '../peers/peers.ts';

/** The peers topic of revocations: token id → expiry (epoch s), kept by the supervisor after the revoking worker dies. */
const REVOKED = 'revoked';

export interface TokenClaims {
  /** The user name. */
  sub: string;
  /** Expiry, epoch seconds. */
  exp: number;
  /** Issued at, epoch seconds. */
  iat: number;
  /** Token id, for revocation. */
  jti: string;
  /** `bearer` tokens from /auth/token, `session` cookies from /auth/login. */
  kind: 'bearer' | 'session';
  /** The user's password generation when issued (absent: 0); a password change refuses older ones. */
  gen?: number;
}

export interface TokenSigner {
  sign(sub: string, kind: TokenClaims['kind'], ttlSeconds: number, now?: number, gen?: number): { token: string; claims: TokenClaims };
  /** The claims of a valid, unexpired, unrevoked token, or `undefined`. */
  verify(token: string, now?: number): TokenClaims | undefined;
  /** Resolves once every process of the server refuses the token (at once with one process). */
  revoke(claims: TokenClaims, now?: number): Promise<void>;
  /** Refuses a token id here, until `exp` (epoch s): how a cluster node applies another node's logout. */
  refuse(jti: string, exp: number): void;
  /** Whether a token id is revoked here (by this process, another worker, or another node). */
  isRevoked(jti: string): boolean;
}

/**
 * Sends a revocation to the other nodes of a cluster and resolves once this node has applied it
 * from the cluster's log (every node applies the same entry: SPEC §10).
 */
export type RevocationRelay = (claims: TokenClaims) => Promise<void>;

/**
 * Creates a signer over a secret (at least 32 bytes of entropy).
 * @example const tokens = createTokenSigner(secret); tokens.verify(tokens.sign('alice', 'bearer', 3600).token)
 */
export function createTokenSigner(secret: string | Buffer, peers: Peers = soloPeers(), relay?: RevocationRelay): TokenSigner {
  const revoked = new Map<string, number>();
  const isRevoked = (jti: string) => revoked.has(jti) || peers.entries(REVOKED).has(jti);
  const mac = (payload: string) => createHmac('sha256', secret).update(payload).digest();

  return {
    sign(sub, kind, ttlSeconds, now = Date.now(), gen = 0) {
      const iat = Math.floor(now / 1000);
      // Rounded up: a token is valid for at least `ttlSeconds` (with `iat + ttl` one issued late in a
      // second lost up to a second of its life, so `tokenTtl: 1` gave tokens that lasted a few ms).
      const exp = Math.ceil(now / 1000) + ttlSeconds;
      const claims: TokenClaims = { sub, exp, iat, jti: randomBytes(12).toString('base64url'), kind, ...(gen > 0 ? { gen } : {}) };
      const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
      return { token: `${payload}.${mac(payload).toString('base64url')}`, claims };
    },
    verify(token, now = Date.now()) {
      const dot = token.indexOf('.');
      if (dot <= 0 || token.length > 2048) return undefined;
      const payload = token.slice(0, dot);
      const given = Buffer.from(token.slice(dot + 1), 'base64url');
      const expected = mac(payload);
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
      let claims: TokenClaims;
      try {
        // JSON.parse returns any: the payload carries our own MAC, and sub and exp are checked below.
        claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as TokenClaims;
      } catch {
        return undefined;
      }
      if (typeof claims.sub !== 'string' || typeof claims.exp !== 'number' || claims.exp * 1000 <= now) return undefined;
      if (isRevoked(claims.jti)) return undefined;
      return claims;
    },
    isRevoked: (jti) => isRevoked(jti),
    refuse(jti, exp) {
      revoked.set(jti, exp);
    },
    async revoke(claims, now = Date.now()) {
      revoked.set(claims.jti, claims.exp);
      // Forget revocations of tokens that have expired anyway, so the map stays small.
      const nowSec = now / 1000;
      for (const [jti, exp] of revoked) {
        if (exp >= nowSec) continue;
        revoked.delete(jti);
        if (peers.clustered && !relay) peers.set(REVOKED, jti, undefined);
      }
      // A cluster's log reaches every node, where each keeps it as this one does (`refuse`): no
      // entry of the peers' besides, which would be a second broadcast of the same revocation.
      if (relay) return relay(claims);
      if (!peers.clustered) return;
      peers.set(REVOKED, claims.jti, claims.exp, claims.exp * 1000);
      // A gathering reaches every process after the entry above: once all have answered, all refuse the token.
      await peers.gather('sync');
    },
  };
}
