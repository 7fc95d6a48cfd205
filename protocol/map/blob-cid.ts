// Content addresses of blobs (ring archives, builder states, encoded maps): CIDv1,
// raw codec (0x55), sha2-256, printed in multibase base32 (CIDv1's default). This is
// the same address ring/address.ts gives ring archives; it lives here too so that the
// map and the blob store need nothing beyond `multiformats` and node:crypto.
import { createHash } from 'node:crypto'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'

export const RAW_CODEC = 0x55
export const SHA2_256 = 0x12

/** The CID string of `bytes`. */
export function blobCid (bytes: Uint8Array): string {
  const hash = createHash('sha256').update(bytes).digest()
  return CID.createV1(RAW_CODEC, Digest.create(SHA2_256, hash)).toString()
}

/**
 * The 32-byte sha2-256 digest a blob CID names, or undefined when `s` is not a
 * CIDv1/raw/sha2-256 address in its canonical base32 spelling (so one blob has
 * exactly one name on disk and on the wire).
 */
export function blobCidDigest (s: string): Uint8Array | undefined {
  if (typeof s !== 'string' || s.length === 0 || s.length > 128) return undefined
  let cid: CID
  try {
    cid = CID.parse(s)
  } catch {
    return undefined
  }
  if (cid.version !== 1 || cid.code !== RAW_CODEC || cid.multihash.code !== SHA2_256) return undefined
  if (cid.multihash.digest.length !== 32) return undefined
  if (cid.toString() !== s) return undefined
  return cid.multihash.digest
}

export function isBlobCid (s: unknown): s is string {
  return typeof s === 'string' && blobCidDigest(s) !== undefined
}

/** The CID string naming a sha2-256 digest (the inverse of blobCidDigest). */
export function blobCidFromDigest (digest: Uint8Array): string {
  if (digest.length !== 32) throw new RangeError('blobCidFromDigest: a sha2-256 digest has 32 bytes')
  return CID.createV1(RAW_CODEC, Digest.create(SHA2_256, digest)).toString()
}
