// The noise handshake's X25519 without OpenSSL's DER decoders must agree, bit for
// bit, with the library's Node and pure-JS implementations: a peer running either
// must derive the same keys, or handshakes fail.
import '../agent/polyfill.js'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { randomBytes } from 'node:crypto'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { defaultCrypto } from '@chainsafe/libp2p-noise/crypto'
import { pureJsCrypto } from '@chainsafe/libp2p-noise'
import { fastNoiseCrypto } from '../agent/net/noise-crypto.js'
import { createNode, type RingleaderNode } from '../agent/net/create-node.js'
import { generateKeyPair } from '@libp2p/crypto/keys'

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

test('a shared key agrees with the library default and the pure-JS implementation, both ways', () => {
  for (const other of [defaultCrypto, pureJsCrypto]) {
    for (let i = 0; i < 20; i++) {
      const ours = fastNoiseCrypto.generateX25519KeyPair()
      const theirs = other.generateX25519KeyPair()
      assert.is(ours.publicKey.byteLength, 32)
      assert.is(ours.privateKey.byteLength, 32)
      const mine = fastNoiseCrypto.generateX25519SharedKey(ours.privateKey, theirs.publicKey)
      const peer = other.generateX25519SharedKey(theirs.privateKey, ours.publicKey)
      assert.is(hex(mine.subarray(0, 32)), hex(peer.subarray(0, 32)))
    }
  }
})

test('HKDF agrees with the pure-JS implementation for every key and input length noise uses', () => {
  for (const ikmLength of [0, 1, 32, 64, 100]) {
    for (let i = 0; i < 10; i++) {
      const ck = randomBytes(32)
      const ikm = randomBytes(ikmLength)
      const ours = fastNoiseCrypto.getHKDF(ck, ikm)
      const library = pureJsCrypto.getHKDF(ck, ikm)
      assert.is(ours.length, 3)
      for (let k = 0; k < 3; k++) {
        assert.is(ours[k].byteLength, 32)
        assert.is(hex(ours[k]), hex(library[k]))
      }
    }
  }
})

test('our exported key pair is the real one: the library derives the same shared key from our private bytes', () => {
  const ours = fastNoiseCrypto.generateX25519KeyPair()
  const theirs = defaultCrypto.generateX25519KeyPair()
  // defaultCrypto re-imports our private bytes through DER: agreement proves the bytes are the key
  const viaLibrary = defaultCrypto.generateX25519SharedKey(ours.privateKey, theirs.publicKey)
  const viaCache = fastNoiseCrypto.generateX25519SharedKey(ours.privateKey, theirs.publicKey)
  assert.is(hex(viaCache), hex(viaLibrary))
  assert.is(hex(pureJsCrypto.generateX25519KeyPairFromSeed(ours.privateKey).publicKey), hex(ours.publicKey))
})

test('a key this module did not make (seeded static key, copied bytes) still works through the fallback', () => {
  const seeded = fastNoiseCrypto.generateX25519KeyPairFromSeed(randomBytes(32))
  const ours = fastNoiseCrypto.generateX25519KeyPair()
  const a = fastNoiseCrypto.generateX25519SharedKey(seeded.privateKey, ours.publicKey)
  const b = fastNoiseCrypto.generateX25519SharedKey(ours.privateKey, seeded.publicKey)
  assert.is(hex(a), hex(b))
  const copied = Uint8Array.from(ours.privateKey) // not the cached object
  assert.is(hex(fastNoiseCrypto.generateX25519SharedKey(copied, seeded.publicKey)), hex(b))
})

test('a peer public key of the wrong length is refused with an error, not a wrong key', () => {
  const ours = fastNoiseCrypto.generateX25519KeyPair()
  for (const len of [0, 31, 33, 64]) {
    assert.throws(() => fastNoiseCrypto.generateX25519SharedKey(ours.privateKey, new Uint8Array(len)), /32 bytes/)
  }
})

test('an agent node using it handshakes with a node on the library default crypto', async () => {
  const nodes: RingleaderNode[] = []
  try {
    const fast = await createNode({ privateKey: await generateKeyPair('Ed25519'), listen: [`/memory/${crypto.randomUUID()}`] })
    nodes.push(fast)
    const library = await createNode({ privateKey: await generateKeyPair('Ed25519'), listen: [`/memory/${crypto.randomUUID()}`], noiseCrypto: defaultCrypto })
    nodes.push(library)
    for (const [from, to] of [[fast, library], [library, fast]] as const) {
      const rtt = await from.services.ping.ping(to.getMultiaddrs()[0], { signal: AbortSignal.timeout(5000) })
      assert.ok(rtt >= 0)
      await from.hangUp(to.peerId)
    }
  } finally {
    await Promise.all(nodes.map(async n => await n.stop()))
  }
})

test('many key pairs and handshakes under GC pressure finish (no mutex deadlock in key export)', async () => {
  // Exporting a JWK from a generateKeyPairSync KeyObject deadlocks on Node 20 when a
  // GC runs mid-export (see noise-crypto.ts); such a loop hung within 3 000–10 000
  // keys. A child process, so a hang fails this test instead of the whole run.
  const moduleUrl = new URL('../agent/net/noise-crypto.js', import.meta.url).href
  const script = `
    const { fastNoiseCrypto: c } = await import(${JSON.stringify(moduleUrl)})
    let junk = []
    for (let i = 0; i < 15000; i++) {
      const a = c.generateX25519KeyPair(), b = c.generateX25519KeyPair()
      c.generateX25519SharedKey(a.privateKey, b.publicKey)
      junk.push(new Array(50).fill(i)); if (junk.length > 1000) junk = []
    }
    console.log('done')`
  const child = spawn(process.execPath, ['--max-semi-space-size=1', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'], cwd: fileURLToPath(new URL('.', import.meta.url)) })
  let out = ''
  child.stdout.on('data', (d: Buffer) => { out += d.toString() })
  const timer = setTimeout(() => { child.kill('SIGKILL') }, 90_000)
  const code = await new Promise<number | null>(resolve => child.on('exit', resolve))
  clearTimeout(timer)
  assert.is(code, 0, 'the loop hung or failed')
  assert.is(out.trim(), 'done')
})

test.run()
