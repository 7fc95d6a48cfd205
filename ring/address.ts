// Content addresses of blobs (ring archives, builder states): CIDv1, raw codec, sha2-256.
// multiformats' sha256 hasher is async; hashing with node:crypto keeps this synchronous
// and pure. Only the canonical string (base32, as CID#toString prints it) is accepted, so
// one blob has exactly one address string — maps and stores key by that string.
import { createHash } from 'node:crypto'
import { CID } from 'multiformats/cid'
import { create as createDigest } from 'multiformats/hashes/digest'

export const RAW_CODEC = 0x55
export const SHA2_256 = 0x12

export class AddressError extends Error {
  override readonly name = 'AddressError'
  readonly code = 'invalid-cid'
}

export type RawCid = CID<unknown, typeof RAW_CODEC, typeof SHA2_256, 1>

export function cidOf (bytes: Uint8Array): RawCid {
  const hash = createHash('sha256').update(bytes).digest()
  return CID.createV1(RAW_CODEC, createDigest(SHA2_256, new Uint8Array(hash.buffer, hash.byteOffset, hash.length)))
}

export function cidString (bytes: Uint8Array): string {
  return cidOf(bytes).toString()
}

/** Parses a canonical CIDv1/raw/sha2-256 string; throws AddressError saying what is wrong. */
export function parseCid (s: string): RawCid {
  if (typeof s !== 'string' || s.length === 0) throw new AddressError('content address must be a non-empty string')
  if (s.length > 200) throw new AddressError(`content address is ${s.length} characters; a CIDv1 sha2-256 is 59`)
  let cid: CID
  try {
    cid = CID.parse(s)
  } catch (err) {
    throw new AddressError(`"${s}" is not a CID: ${(err as Error).message}`)
  }
  if (cid.version !== 1) throw new AddressError(`"${s}" is a CIDv${cid.version}; content addresses are CIDv1`)
  if (cid.code !== RAW_CODEC) throw new AddressError(`"${s}" has codec 0x${cid.code.toString(16)}; content addresses use raw (0x55)`)
  if (cid.multihash.code !== SHA2_256 || cid.multihash.digest.length !== 32) {
    throw new AddressError(`"${s}" uses hash 0x${cid.multihash.code.toString(16)}; content addresses use sha2-256 (0x12)`)
  }
  if (cid.toString() !== s) throw new AddressError(`"${s}" is not in canonical base32 form; use ${cid.toString()}`)
  return cid as RawCid
}

/** True when `bytes` hash to `cid` (a CID object or its string). */
export function verifyCid (cid: CID | string, bytes: Uint8Array): boolean {
  const want = typeof cid === 'string' ? cid : cid.toString()
  return cidString(bytes) === want
}
