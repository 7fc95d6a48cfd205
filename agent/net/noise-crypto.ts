// X25519 for the noise handshake without OpenSSL's DER decoders.
//
// @chainsafe/libp2p-noise's Node crypto turns both keys of every Diffie-Hellman back
// into KeyObjects by parsing PKCS#8/SPKI DER, and OpenSSL 3's decoders make that
// ~0.47 ms per DH; a connection runs six (three per side), ~18 % of its CPU in a
// warmed process. Here the key pairs this node generates keep their KeyObject, and a
// peer's public key is imported as a raw JWK (no decoder): ~0.04 ms per DH.
// Everything else (hash, HKDF, ChaCha20-Poly1305) is the library's default.
import { createPublicKey, diffieHellman, generateKeyPairSync, type KeyObject } from 'node:crypto'
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

function generateX25519KeyPair (): { publicKey: Uint8Array, privateKey: Uint8Array } {
  const pair = generateKeyPairSync('x25519')
  const jwk = pair.privateKey.export({ format: 'jwk' })
  if (typeof jwk.d !== 'string' || typeof jwk.x !== 'string') throw new Error('x25519 key export lacks d or x')
  const privateKey = Buffer.from(jwk.d, 'base64url')
  ownKeys.set(privateKey, pair.privateKey)
  return { publicKey: Buffer.from(jwk.x, 'base64url'), privateKey }
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

/** The crypto to hand to `noise({ crypto })`. */
export const fastNoiseCrypto: ICryptoInterface = {
  ...defaultCrypto,
  generateX25519KeyPair,
  generateX25519SharedKey
}
