// Ed25519 signing and verification with Node's own crypto, keyed by KeyObjects
// made once per key. libp2p's Node build turns the raw key into a KeyObject on every
// call; for a signature on every probe datagram that setup would cost more than
// the signature. Only imports keys (DER wrappers around the raw bytes): nothing
// here generates or exports a key object.
import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto'
import type { PeerId, PrivateKey } from '@libp2p/interface'

// The fixed DER headers of an Ed25519 key (RFC 8410): PKCS#8 around the 32-byte
// seed, SubjectPublicKeyInfo around the 32-byte public key.
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex')
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex')
const SEED_BYTES = 32

export const SIGNATURE_BYTES = 64

/** The node's signing key; throws for a key that is not Ed25519. */
export function signingKey (key: PrivateKey): KeyObject {
  if (key.type !== 'Ed25519') throw new TypeError(`datagram signatures need an Ed25519 identity, not ${key.type}`)
  // libp2p keeps seed ‖ public key; the seed is all PKCS#8 needs.
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, key.raw.subarray(0, SEED_BYTES)]), format: 'der', type: 'pkcs8' })
}

/** The verifying key of an Ed25519 peer id, or undefined for one of another key type. */
export function verifyingKey (peer: PeerId): KeyObject | undefined {
  if (peer.type !== 'Ed25519' || peer.publicKey === undefined) return undefined
  return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, peer.publicKey.raw]), format: 'der', type: 'spki' })
}

export function signBytes (key: KeyObject, data: Uint8Array): Uint8Array {
  return sign(null, data, key)
}

export function verifyBytes (key: KeyObject, data: Uint8Array, signature: Uint8Array): boolean {
  if (signature.byteLength !== SIGNATURE_BYTES) return false
  return verify(null, data, key, signature)
}
