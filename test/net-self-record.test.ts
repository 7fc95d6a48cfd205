// Identify answers with our own signed peer record, sealed once per address set
// (agent/net/self-record.ts), and the record follows the addresses.
import '../agent/polyfill.js'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { RecordEnvelope, PeerRecord } from '@libp2p/peer-record'
import { CODE_P2P, multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { createNode, type RingleaderNode } from '../agent/net/create-node.js'
import { keepSelfRecord, type SelfRecordNode } from '../agent/net/self-record.js'

async function until<T> (what: string, probe: () => Promise<T | undefined>, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const v = await probe()
    if (v !== undefined) return v
    await new Promise(resolve => setTimeout(resolve, 20))
  }
  throw new Error(`timed out waiting for ${what}`)
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')

test('identify hands peers the record stored once, and it certifies our addresses', async () => {
  const nodes: RingleaderNode[] = []
  try {
    const a = await createNode({ privateKey: await generateKeyPair('Ed25519'), listen: [`/memory/${crypto.randomUUID()}`] })
    nodes.push(a)
    const b = await createNode({ privateKey: await generateKeyPair('Ed25519'), listen: [`/memory/${crypto.randomUUID()}`] })
    nodes.push(b)
    const own = await until('a to store its own record', async () => (await a.peerStore.get(a.peerId)).peerRecordEnvelope)
    const record = PeerRecord.createFromProtobuf((await RecordEnvelope.openAndCertify(own, PeerRecord.DOMAIN)).payload)
    assert.equal(record.multiaddrs.map(m => m.toString()), a.getMultiaddrs().map(m => m.decapsulateCode(CODE_P2P).toString()))
    await b.dial(a.getMultiaddrs()[0])
    const received = await until('b to learn a\'s record through identify', async () => {
      try { return (await b.peerStore.get(a.peerId)).peerRecordEnvelope } catch { return undefined }
    })
    // The same bytes: identify sent the stored envelope; a fresh seal would carry a new sequence number.
    assert.is(hex(received), hex(own))
    const stored = await b.peerStore.get(a.peerId)
    assert.ok(stored.addresses.some(x => x.isCertified && x.multiaddr.toString() === record.multiaddrs[0].toString()))
  } finally {
    await Promise.all(nodes.map(async n => await n.stop()))
  }
})

test('the record is resealed when the addresses change, and only then', async () => {
  const privateKey = await generateKeyPair('Ed25519')
  const peerId = peerIdFromPrivateKey(privateKey)
  let addrs: Multiaddr[] = [multiaddr(`/ip4/10.0.0.1/tcp/7950/p2p/${peerId.toString()}`)]
  const stored: Uint8Array[] = []
  const listeners = new Set<() => void>()
  const node: SelfRecordNode = {
    peerId,
    getMultiaddrs: () => addrs,
    peerStore: {
      consumePeerRecord: async (buf) => {
        stored.push(buf)
        for (const l of listeners) l() // storing raises self:peer:update, as libp2p does
        return true
      }
    },
    addEventListener: (_type, l) => { listeners.add(l) },
    removeEventListener: (_type, l) => { listeners.delete(l) }
  }
  const keeper = keepSelfRecord(node, privateKey)
  await keeper.refresh()
  assert.is(keeper.sealed, 1)
  await keeper.refresh()
  for (const l of listeners) l()
  await keeper.refresh()
  assert.is(keeper.sealed, 1, 'unchanged addresses are not resealed (nor is our own store event a change)')
  addrs = [multiaddr(`/ip4/10.0.0.2/tcp/7950/p2p/${peerId.toString()}`), ...addrs]
  for (const l of listeners) l()
  await keeper.refresh()
  assert.is(keeper.sealed, 2)
  const latest = PeerRecord.createFromProtobuf((await RecordEnvelope.openAndCertify(stored[stored.length - 1], PeerRecord.DOMAIN)).payload)
  assert.equal(latest.multiaddrs.map(m => m.toString()), ['/ip4/10.0.0.2/tcp/7950', '/ip4/10.0.0.1/tcp/7950'])
  keeper.stop()
  assert.is(listeners.size, 0)
  addrs = [multiaddr('/ip4/10.0.0.3/tcp/7950')]
  await keeper.refresh()
  assert.is(keeper.sealed, 2, 'nothing after stop')
})

test('a node that lists no address yet seals nothing', async () => {
  const privateKey = await generateKeyPair('Ed25519')
  let calls = 0
  const node: SelfRecordNode = {
    peerId: peerIdFromPrivateKey(privateKey),
    getMultiaddrs: () => [],
    peerStore: { consumePeerRecord: async () => { calls++; return true } },
    addEventListener: () => {},
    removeEventListener: () => {}
  }
  const keeper = keepSelfRecord(node, privateKey)
  await keeper.refresh()
  assert.is(keeper.sealed, 0)
  assert.is(calls, 0)
})

test.run()
