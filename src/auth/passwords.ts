/**
 * Passwords users change at run time (`POST /auth/password`): where the authenticator finds them
 * and the rules a new one must meet. The configuration stays the source of users and roles; a
 * changed password is stored with the configuration's hash it replaced, and counts only while the
 * configuration still holds that hash, so an operator resets a forgotten password by writing a new
 * hash into the configuration, as before.
 */
import { AppError } from '../errors.ts';

/** A changed password as stored: the new hash, the configuration's hash it replaced, the count of changes. */
export interface ChangedPassword {
  hash: string;
  base: string;
  generation: number;
}

/** The store of changed passwords (the server's LMDB, through its cluster's log on a cluster node). */
export interface PasswordStore {
  /** `user`'s changed password, if any (read on each password check and token check). */
  get(user: string): ChangedPassword | undefined;
  /**
   * Stores `hash` as `user`'s password in place of `base`, if the password is still at generation
   * `expect` (else CONFLICT); resolves once this process uses it.
   */
  set(user: string, hash: string, base: string, expect: number): Promise<void>;
}

/** Characters of a new password: fewer is too easy to guess, more only costs hashing and bytes. */
const MIN_PASSWORD_LENGTH = 8;
const MAX_PASSWORD_LENGTH = 256;
/** Longest `current` password taken: a configured one may be long, but not unbounded. */
const MAX_CURRENT_LENGTH = 4096;

/**
 * The hash a password is checked against: the changed one while the configuration still holds the
 * hash it replaced, else the configuration's.
 */
export function effectiveHash(configured: string, changed: ChangedPassword | undefined): string {
  return changed !== undefined && changed.base === configured ? changed.hash : configured;
}

/**
 * Checks the body of a password change before any hashing: 400 VALIDATION_FAILED naming the field.
 * @example const { current, password } = checkPasswordChange(request.body)
 */
export function checkPasswordChange(body: unknown): { current: string; password: string } {
  const fail = (path: string, message: string): never => {
    throw new AppError('VALIDATION_FAILED', `${path}: ${message}`, { details: [{ path, message }] });
  };
  const given = typeof body === 'object' && body !== null ? (body as { current?: unknown; password?: unknown }) : {};
  const { current, password } = given;
  if (typeof current !== 'string') return fail('current', 'the current password is required, as a string');
  if (typeof password !== 'string') return fail('password', 'the new password is required, as a string');
  if (current.length > MAX_CURRENT_LENGTH) fail('current', `at most ${MAX_CURRENT_LENGTH} characters`);
  if (password.length < MIN_PASSWORD_LENGTH || password.length > MAX_PASSWORD_LENGTH) {
    fail('password', `between ${MIN_PASSWORD_LENGTH} and ${MAX_PASSWORD_LENGTH} characters (it has ${password.length})`);
  }
  if (password === current) fail('password', 'the new password is the current one');
  return { current, password };
}
