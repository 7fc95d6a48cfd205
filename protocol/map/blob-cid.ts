// Blob addresses as the map, the node meta and the blob store use them: thin helpers
// over ring/address.ts (CIDv1, raw, sha2-256, canonical base32 only), so one blob has
// exactly one name on disk and on the wire.
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { cidString, parseCid, RAW_CODEC, SHA2_256 } from '../../ring/address.js'

/** The CID string of `bytes`. */
export function blobCid (bytes: Uint8Array): string {
  return cidString(bytes)
}

/** The 32-byte sha2-256 digest a blob CID names, or undefined when `s` is not a canonical blob CID. */
export function blobCidDigest (s: string): Uint8Array | undefined {
  try {
    return parseCid(s).multihash.digest
  } catch {
    return undefined
  }
}

export function isBlobCid (s: unknown): s is string {
  return typeof s === 'string' && blobCidDigest(s) !== undefined
}

/** The CID string naming a sha2-256 digest (the inverse of blobCidDigest). */
export function blobCidFromDigest (digest: Uint8Array): string {
  if (digest.length !== 32) throw new RangeError('blobCidFromDigest: a sha2-256 digest has 32 bytes')
  return CID.createV1(RAW_CODEC, Digest.create(SHA2_256, digest)).toString()
}
