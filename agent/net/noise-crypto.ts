// X25519 for the noise handshake without OpenSSL's DER decoders on every DH.
//
// @chainsafe/libp2p-noise's Node crypto turns both keys of every Diffie-Hellman back
// into KeyObjects by parsing PKCS#8/SPKI DER, and OpenSSL 3's decoders make that
// ~0.47 ms per DH; a connection runs six (three per side), ~18 % of its CPU in a
// warmed process. Here each key pair this node generates is imported once as a raw
// JWK (no decoder) and keeps that KeyObject, and a peer's public key is imported as
// a raw JWK too: ~0.04 ms per DH.
//
// The library's HKDF is @noble/hashes in JavaScript even on Node: three per
// handshake side, run cold while a node accepts a burst of joins (a profile of a
// seed taking four joins at once put ~28 ms in it). OpenSSL's HKDF is one call.
// Hash and ChaCha20-Poly1305 are the library's.
//
// Never export from a KeyObject that generateKeyPairSync returned: on Node 20 the
// export holds the key's mutex while it allocates, a GC in between runs the weak
// callback of the finished key-generation job, which takes the same mutex, and the
// process hangs for good (seen: an agent frozen in futex_wait mid-benchmark; a loop
// of such exports hangs within a few thousand keys). The pair is generated as DER
// bytes, as the library does, and only those bytes are imported.
import { createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, type KeyObject } from 'node:crypto'
import { defaultCrypto } from '@chainsafe/libp2p-noise/crypto'
import type { ICryptoInterface } from '@chainsafe/libp2p-noise'

const X25519_KEY_BYTES = 32

/** Key bytes as noise passes them: a Uint8Array or a Uint8ArrayList. */
type KeyBytes = Parameters<ICryptoInterface['generateX25519SharedKey']>[0]

/** Private key bytes handed to noise → the KeyObject they came from (freed with the key pair). */
const ownKeys = new WeakMap<Uint8Array, KeyObject>()

function bytesOf (data: KeyBytes): Uint8Array {
  return data instanceof Uint8Array ? data : data.subarray()
}

/** DER prefixes of an X25519 key: PKCS#8 private (16 bytes), SPKI public (12 bytes); the raw key follows. */
const PKCS8_PREFIX_BYTES = 16
const SPKI_PREFIX_BYTES = 12

function generateX25519KeyPair (): { publicKey: Uint8Array, privateKey: Uint8Array } {
  const der = generateKeyPairSync('x25519', {
    publicKeyEncoding: { type: 'spki', format: 'der' },
    privateKeyEncoding: { type: 'pkcs8', format: 'der' }
  })
  const privateKey = der.privateKey.subarray(PKCS8_PREFIX_BYTES)
  const publicKey = der.publicKey.subarray(SPKI_PREFIX_BYTES)
  if (privateKey.byteLength !== X25519_KEY_BYTES || publicKey.byteLength !== X25519_KEY_BYTES) throw new Error('unexpected x25519 DER layout')
  const key = createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d: privateKey.toString('base64url'), x: publicKey.toString('base64url') }, format: 'jwk' })
  ownKeys.set(privateKey, key)
  return { publicKey, privateKey }
}

function generateX25519SharedKey (privateKey: KeyBytes, publicKey: KeyBytes): Uint8Array {
  const own = privateKey instanceof Uint8Array ? ownKeys.get(privateKey) : undefined
  // A key this module did not make (a seeded static key): the library's own path.
  if (own === undefined) return defaultCrypto.generateX25519SharedKey(privateKey, publicKey)
  const remote = bytesOf(publicKey)
  if (remote.byteLength !== X25519_KEY_BYTES) throw new Error(`x25519 public key must be ${X25519_KEY_BYTES} bytes, got ${remote.byteLength}`)
  const peer = createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(remote).toString('base64url') }, format: 'jwk' })
  return diffieHellman({ privateKey: own, publicKey: peer })
}

const HKDF_OUTPUT_BYTES = 96
const NO_INFO = new Uint8Array(0)

/** Noise's HKDF(ck, ikm) → three 32-byte outputs: RFC 5869 with salt = ck and empty info. */
function getHKDF (ck: Uint8Array, ikm: Uint8Array): [Uint8Array, Uint8Array, Uint8Array] {
  const okm = new Uint8Array(hkdfSync('sha256', ikm, ck, NO_INFO, HKDF_OUTPUT_BYTES))
  return [okm.subarray(0, 32), okm.subarray(32, 64), okm.subarray(64, 96)]
}

/** The crypto to hand to `noise({ crypto })`. */
export const fastNoiseCrypto: ICryptoInterface = {
  ...defaultCrypto,
  getHKDF,
  generateX25519KeyPair,
  generateX25519SharedKey
}
