/**
 * Channel names and who may use them (README › Channels over HTTP). A name is segments separated
 * by `:` (`user:alice`, `item:42:comments`); roles grant `subscribe` and `publish` on channel
 * patterns, where a whole segment may be `*` (any one segment), `**` (the rest: one or more
 * segments, last only) or `$user` (the caller's user name). Patterns are compiled once at start, so
 * a typo stops start-up instead of silently denying at request time. Kept apart from table policy
 * (policy.ts): channels are names, not tables, and share nothing with row filters.
 */
import type { AuthConfig, ChannelAction } from '../config.ts';
import { jsonPath } from '../config.ts';
import { AppError } from '../errors.ts';
import type { PolicyProblem, Principal } from './policy.ts';

/** Longest channel name, in characters. */
const MAX_NAME = 200;
/** One segment of a name: what needs no escaping in a URL path and cannot be confused with pattern syntax. */
const SEGMENT = /^[A-Za-z0-9_.@-]+$/;

/**
 * The channel name, or BAD_REQUEST saying what a name may hold.
 * @example checkChannelName('user:alice') // 'user:alice'
 */
export function checkChannelName(name: string): string {
  // `.` and `..` are path segments a client resolves away before the request is sent.
  if (name.length > 0 && name.length <= MAX_NAME && name !== '.' && name !== '..' && name.split(':').every((s) => SEGMENT.test(s))) return name;
  const shown = name.length > 60 ? `${name.slice(0, 60)}…` : name;
  throw new AppError('BAD_REQUEST', `channel name "${shown}" is invalid: segments of letters, digits, _ . @ - separated by ":", at most ${MAX_NAME} characters (not "." or "..")`);
}

/** One compiled pattern segment. */
type Segment = { kind: 'literal'; text: string } | { kind: 'one' } | { kind: 'rest' } | { kind: 'user' };

interface CompiledPattern {
  segments: Segment[];
  actions: ReadonlySet<ChannelAction>;
}

export interface ChannelGrants {
  /** False when no auth is configured: every valid channel is open to everyone. */
  readonly enabled: boolean;
  /** Whether `principal` may `action` on `channel` (a valid name). */
  allows(principal: Principal, action: ChannelAction, channel: string): boolean;
  /** Like `allows`, but throws UNAUTHORIZED (anonymous) or FORBIDDEN. */
  require(principal: Principal, action: ChannelAction, channel: string): void;
}

/**
 * Every problem of the roles' channel patterns, with its path under `auth`.
 * @example channelGrantProblems({ users: {}, roles: { r: { tables: {}, channels: { 'a:b*': ['subscribe'] }, admin: false } }, … })
 */
export function channelGrantProblems(auth: AuthConfig | undefined): PolicyProblem[] {
  return compile(auth).problems;
}

/**
 * Compiles the roles' channel patterns.
 * @param enabled whether auth is on (the table policy's `enabled`): off, everything is allowed.
 * @throws AppError `CONFIG_INVALID` listing every bad pattern.
 * @example const grants = createChannelGrants(config.auth, policy.enabled)
 */
export function createChannelGrants(auth: AuthConfig | undefined, enabled: boolean): ChannelGrants {
  const { byRole, problems } = compile(auth);
  if (problems.length) {
    const lines = problems.map((p) => `  ${jsonPath(['auth', ...p.path])}: ${p.message}`);
    throw new AppError('CONFIG_INVALID', `invalid channel permissions:\n${lines.join('\n')}`, { details: problems });
  }
  const allows = (principal: Principal, action: ChannelAction, channel: string): boolean => {
    if (!enabled) return true;
    const names = channel.split(':');
    for (const role of principal.roles) {
      for (const pattern of byRole.get(role) ?? []) {
        if (pattern.actions.has(action) && matches(pattern.segments, names, principal.user)) return true;
      }
    }
    return false;
  };
  return {
    enabled,
    allows,
    require(principal, action, channel) {
      if (allows(principal, action, channel)) return;
      if (principal.user === null) {
        throw new AppError('UNAUTHORIZED', `authentication required to ${action} on channel ${channel}`, { headers: { 'www-authenticate': 'Bearer realm="tablecast"' } });
      }
      throw new AppError('FORBIDDEN', `user ${principal.user} may not ${action} on channel ${channel}`);
    },
  };
}

/** Whether a pattern's segments match a name's; `$user` matches the one segment equal to the caller's name (never for anonymous callers). */
function matches(pattern: readonly Segment[], names: readonly string[], user: string | null): boolean {
  for (let i = 0; i < pattern.length; i++) {
    const seg = pattern[i]!;
    if (seg.kind === 'rest') return names.length > i;
    const name = names[i];
    if (name === undefined) return false;
    if (seg.kind === 'literal' && seg.text !== name) return false;
    if (seg.kind === 'user' && (user === null || user !== name)) return false;
  }
  return names.length === pattern.length;
}

/** role → its compiled patterns, and every problem found on the way. */
function compile(auth: AuthConfig | undefined): { byRole: Map<string, CompiledPattern[]>; problems: PolicyProblem[] } {
  const byRole = new Map<string, CompiledPattern[]>();
  const problems: PolicyProblem[] = [];
  for (const [role, { channels }] of Object.entries(auth?.roles ?? {})) {
    const patterns: CompiledPattern[] = [];
    for (const [pattern, actions] of Object.entries(channels ?? {})) {
      const segments = parsePattern(pattern);
      if (typeof segments === 'string') problems.push({ path: ['roles', role, 'channels', pattern], message: segments });
      else patterns.push({ segments, actions: new Set(actions) });
    }
    byRole.set(role, patterns);
  }
  return { byRole, problems };
}

/** A pattern's segments, or why it is not one. */
function parsePattern(pattern: string): Segment[] | string {
  if (pattern.length > MAX_NAME * 2) return `"${pattern.slice(0, 60)}…" is longer than any channel name`;
  const parts = pattern.split(':');
  const segments: Segment[] = [];
  for (const [i, part] of parts.entries()) {
    if (part === '*') segments.push({ kind: 'one' });
    else if (part === '**') {
      if (i !== parts.length - 1) return `"${pattern}": ** (the rest of the name) may only be the last segment`;
      segments.push({ kind: 'rest' });
    } else if (part === '$user') segments.push({ kind: 'user' });
    else if (SEGMENT.test(part)) segments.push({ kind: 'literal', text: part });
    else {
      return `"${pattern}": segment "${part}" is neither a name segment (letters, digits, _ . @ -) nor *, ** or $user (wildcards stand for whole segments: "item:*", not "item-*")`;
    }
  }
  return segments;
}
