// Signed probe datagrams (agent/net/datagram-channel.ts): who sent a datagram is
// proven by its signature; anything forged, redirected, malformed or oversized is
// counted and dropped; an answer counts only if made for this process.
import '../agent/polyfill.js'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { createSocket, type Socket } from 'node:dgram'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { openDatagramChannel, type DatagramChannel } from '../agent/net/datagram-channel.js'
import { decodeEnvelope, encodeSignedPart } from '../agent/net/datagram-envelope.js'
import { signBytes, signingKey } from '../agent/net/ed25519-keys.js'

interface Got { from: string, payload: number[], answersUs: boolean }

async function until (what: string, check: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 5))
  }
}

async function node (): Promise<{ key: PrivateKey, id: string }> {
  const key = await generateKeyPair('Ed25519')
  return { key, id: peerIdFromPrivateKey(key).toString() }
}

async function open (n: { key: PrivateKey, id: string }, got: Got[], port = 0): Promise<DatagramChannel> {
  return await openDatagramChannel({
    selfId: n.id,
    privateKey: n.key,
    bind: [{ host: '127.0.0.1', port }],
    onMessage: (from, payload, info) => { got.push({ from, payload: [...payload], answersUs: info.answersUs }) }
  })
}

/** A plain UDP socket on loopback that keeps what it receives. */
async function rawSocket (): Promise<{ socket: Socket, port: number, received: Buffer[] }> {
  const socket = createSocket('udp4')
  const received: Buffer[] = []
  socket.on('message', (b) => { received.push(b) })
  await new Promise<void>(resolve => { socket.bind(0, '127.0.0.1', resolve) })
  return { socket, port: socket.address().port, received }
}

async function sendRaw (socket: Socket, bytes: Uint8Array, port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => { socket.send(bytes, port, '127.0.0.1', err => { if (err !== null && err !== undefined) reject(err); else resolve() }) })
}

/** A datagram signed by `signer` with the given fields. */
function forged (signer: PrivateKey, f: { from: string, to: string, nonce?: Uint8Array, echo?: Uint8Array, payload: Uint8Array }): Buffer {
  const signed = encodeSignedPart({ nonce: new Uint8Array(8).fill(1), echo: new Uint8Array(8), ...f })
  return Buffer.concat([signed, signBytes(signingKey(signer), signed)])
}

test('a datagram arrives with its verified sender; the answer to it echoes the asker and is marked so', async () => {
  const [a, b] = [await node(), await node()]
  const inA: Got[] = []
  const inB: Got[] = []
  const chA = await open(a, inA)
  const chB = await open(b, inB)
  try {
    assert.is(chB.heardFrom(a.id), false)
    assert.ok(chA.send(b.id, chB.endpoints[0], new Uint8Array([1, 2, 3])))
    await until('the request at b', () => inB.length === 1)
    assert.equal(inB[0], { from: a.id, payload: [1, 2, 3], answersUs: false }, 'a request echoes nothing: a never heard from b')
    assert.ok(chB.heardFrom(a.id))
    assert.equal(chB.sourceOf(a.id), { host: '127.0.0.1', port: chA.endpoints[0].port })
    assert.ok(chB.send(a.id, chB.sourceOf(a.id) ?? chA.endpoints[0], new Uint8Array([9])))
    await until('the answer at a', () => inA.length === 1)
    assert.equal(inA[0], { from: b.id, payload: [9], answersUs: true })
    assert.equal([chA.stats.sent, chA.stats.received, chB.stats.sent, chB.stats.received], [1, 1, 1, 1])
  } finally {
    await chA.stop(); await chB.stop()
  }
})

test('forged, redirected, malformed, oversized and foreign-key datagrams are counted and dropped; the channel keeps working', async () => {
  const [a, b, mallory] = [await node(), await node(), await node()]
  const secp = await generateKeyPair('secp256k1')
  const secpId = peerIdFromPrivateKey(secp).toString()
  const inB: Got[] = []
  const chB = await open(b, inB)
  const raw = await rawSocket()
  try {
    const port = chB.endpoints[0].port
    const payload = new Uint8Array([7, 7])
    // Mallory signs a datagram claiming to come from a.
    await sendRaw(raw.socket, forged(mallory.key, { from: a.id, to: b.id, payload }), port)
    // A genuine datagram from a with one payload byte changed after signing.
    const tampered = forged(a.key, { from: a.id, to: b.id, payload })
    tampered[tampered.byteLength - 65] ^= 1
    await sendRaw(raw.socket, tampered, port)
    // A genuine datagram from a, addressed to mallory, replayed to b.
    await sendRaw(raw.socket, forged(a.key, { from: a.id, to: mallory.id, payload }), port)
    // b's own id as the sender.
    await sendRaw(raw.socket, forged(b.key, { from: b.id, to: b.id, payload }), port)
    // A sender whose peer id is not Ed25519.
    await sendRaw(raw.socket, forged(a.key, { from: secpId, to: b.id, payload }), port)
    // Garbage, a truncated envelope, a wrong version, and one over the size limit.
    await sendRaw(raw.socket, Buffer.from('GET / HTTP/1.0\r\n\r\n'), port)
    const good = forged(a.key, { from: a.id, to: b.id, payload })
    await sendRaw(raw.socket, good.subarray(0, good.byteLength - 1), port)
    const v2 = Buffer.from(good); v2[2] = 2
    await sendRaw(raw.socket, v2, port)
    await sendRaw(raw.socket, forged(a.key, { from: a.id, to: b.id, payload: new Uint8Array(1300) }), port)
    const rejectedCount = (): number => Object.values(chB.stats.rejected).reduce((s, n) => s + (n ?? 0), 0)
    await until('nine rejections', () => rejectedCount() === 9)
    assert.equal(chB.stats.rejected, { 'bad-signature': 2, 'wrong-recipient': 2, 'bad-key': 1, malformed: 3, 'too-large': 1 })
    assert.equal(inB, [], 'nothing delivered')
    assert.is(chB.heardFrom(a.id), false, 'a forged datagram teaches nothing about its claimed sender')
    assert.is(chB.knownPeers(), 0, 'and takes no place among the remembered senders')
    // The genuine one still goes through.
    await sendRaw(raw.socket, good, port)
    await until('the genuine datagram', () => inB.length === 1)
    assert.equal(inB[0], { from: a.id, payload: [7, 7], answersUs: false })
    assert.is(chB.knownPeers(), 1)
  } finally {
    raw.socket.close()
    await chB.stop()
  }
})

test('an answer made for an earlier process of the same node does not count as an answer', async () => {
  const [a, b] = [await node(), await node()]
  const raw = await rawSocket()
  const inA: Got[] = []
  let chA = await open(a, inA)
  try {
    // Learn a's nonce from a request it sends (to the raw socket, playing b).
    chA.send(b.id, { host: '127.0.0.1', port: raw.port }, new Uint8Array([1]))
    await until('a request from a', () => raw.received.length === 1)
    const nonce = decodeEnvelope(raw.received[0]).nonce
    const answer = forged(b.key, { from: b.id, to: a.id, echo: nonce, payload: new Uint8Array([2]) })
    await sendRaw(raw.socket, answer, chA.endpoints[0].port)
    await until('the answer', () => inA.length === 1)
    assert.is(inA[0].answersUs, true)
    // a restarts with the same key; the captured answer is replayed.
    const port = chA.endpoints[0].port
    await chA.stop()
    chA = await open(a, inA, port)
    await sendRaw(raw.socket, answer, chA.endpoints[0].port)
    await until('the replay', () => inA.length === 2)
    assert.is(inA[1].answersUs, false, 'the new process has a new nonce')
  } finally {
    raw.socket.close()
    await chA.stop()
  }
})

test('a taken port falls back to a free one; a payload too large for one datagram, or an address the socket cannot reach, is refused at send', async () => {
  const [a, b] = [await node(), await node()]
  const taken = await rawSocket()
  const ch = await open(a, [], taken.port)
  try {
    assert.ok(ch.endpoints[0].port !== taken.port && ch.endpoints[0].port > 0)
    assert.throws(() => ch.send(b.id, { host: '127.0.0.1', port: taken.port }, new Uint8Array(1100)), (err: Error) => err.name === 'DatagramError' && (err as Error & { code: string }).code === 'too-large')
    assert.is(ch.send(b.id, { host: '::1', port: taken.port }, new Uint8Array(1)), false, 'no IPv6 socket bound')
    assert.ok(ch.reaches('127.0.0.1'))
    assert.not.ok(ch.reaches('10.0.0.5'), 'a socket on loopback does not reach another host')
    assert.is(ch.send(b.id, { host: '10.0.0.5', port: taken.port }, new Uint8Array(1)), false)
    assert.is(ch.stats.sent, 0)
  } finally {
    taken.socket.close()
    await ch.stop()
  }
})

test.run()
