/**
 * Password hashing. New hashes are argon2id at the strength OWASP recommends
 * (19 MiB, 2 passes, 1 lane), in the PHC form `$argon2id$v=19$m=..,t=..,p=..$salt$key`
 * so the cost travels with each hash. Hashes from older versions of Ferry,
 * `scrypt$N$r$p$<salt base64>$<key base64>`, still verify, and `verifyPassword`
 * says when a hash is weaker than today's so the caller can replace it.
 */

import { hash as argon2Hash, parseOptions as parseArgon2, verify as argon2Verify } from '@node-rs/argon2';
import { randomBytes, scrypt as scryptCallback, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/** OWASP Password Storage Cheat Sheet, argon2id: m=19456 KiB, t=2, p=1. */
export const ARGON2_COST = { memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;
/** `Algorithm.Argon2id` of @node-rs/argon2 (a const enum, which isolated modules cannot read). */
const ARGON2ID = 2;

const SCRYPT = 'scrypt';
const SCRYPT_KEY_BYTES = 32;

function scrypt(password: string, salt: Buffer, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scryptCallback(password, salt, SCRYPT_KEY_BYTES, { ...options, maxmem: 256 * 1024 * 1024 }, (error, key) =>
      error ? reject(error) : resolve(key),
    );
  });
}

export function hashPassword(password: string): Promise<string> {
  return argon2Hash(password, { ...ARGON2_COST, algorithm: ARGON2ID });
}

interface ScryptHash {
  cost: { N: number; r: number; p: number };
  salt: Buffer;
  key: Buffer;
}

/** A legacy scrypt hash, parsed; undefined for anything else. */
export function parseScryptHash(stored: string): ScryptHash | undefined {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== SCRYPT) return undefined;
  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  if (![N, r, p].every((n) => Number.isSafeInteger(n) && n > 0)) return undefined;
  const salt = Buffer.from(parts[4] as string, 'base64');
  const key = Buffer.from(parts[5] as string, 'base64');
  if (salt.length === 0 || key.length !== SCRYPT_KEY_BYTES) return undefined;
  return { cost: { N, r, p }, salt, key };
}

function isArgon2idHash(stored: string): boolean {
  if (!stored.startsWith('$argon2id$')) return false;
  try {
    parseArgon2(stored);
    return true;
  } catch {
    return false;
  }
}

export function isPasswordHash(stored: string): boolean {
  return isArgon2idHash(stored) || parseScryptHash(stored) !== undefined;
}

/** True when the hash is weaker than what `hashPassword` makes today. */
export function needsRehash(stored: string): boolean {
  if (!isArgon2idHash(stored)) return true;
  const { memoryCost, timeCost } = parseArgon2(stored);
  return memoryCost < ARGON2_COST.memoryCost || timeCost < ARGON2_COST.timeCost;
}

async function verifyKnown(password: string, stored: string): Promise<boolean> {
  if (isArgon2idHash(stored)) return argon2Verify(stored, password);
  const parsed = parseScryptHash(stored);
  if (parsed === undefined) return false;
  const key = await scrypt(password, parsed.salt, parsed.cost);
  return timingSafeEqual(key, parsed.key);
}

let decoy: Promise<string> | undefined;

/**
 * Checks a password. With no stored hash (unknown user) or an unusable one it still
 * does the same work against a decoy, so timing does not reveal which names exist.
 */
export async function verifyPassword(password: string, stored: string | undefined): Promise<boolean> {
  if (stored !== undefined && isPasswordHash(stored)) return verifyKnown(password, stored);
  decoy ??= hashPassword(randomBytes(16).toString('hex'));
  await verifyKnown(password, await decoy);
  return false;
}
