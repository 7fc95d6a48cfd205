// The membership wire codec: round trips, limits, schema rejections and fuzzing.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Encoder } from 'cbor-x'
import { MAX_ADDR_LENGTH, MAX_ADDRS, MAX_ID_LENGTH, MAX_META_BYTES, type MembershipMessage } from '../protocol/membership/index.js'
import {
  channelOf, decodeGossip, decodeMembershipMessage, encodeEnvelope, encodeMembershipMessage, MAX_GOSSIP_BYTES,
  WireError, type MembershipChannel, type WireErrorCode
} from '../protocol/wire/index.js'
import { createPrng } from './sim/prng.js'

const ID = '12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo'
const raw = new Encoder({ useRecords: false, tagUint8Array: false, variableMapSize: true })

const samples: MembershipMessage[] = [
  { type: 'ping', seq: 1 },
  { type: 'ack', seq: 2 ** 40 },
  { type: 'nack', seq: 0 },
  { type: 'ping-req', seq: 9, target: ID, targetAddrs: ['/ip4/127.0.0.1/tcp/4001'] },
  { type: 'alive', id: ID, incarnation: 3, addrs: ['/ip4/10.0.0.1/tcp/1', '/memory/x'], meta: new Uint8Array([1, 2, 3]), from: ID },
  { type: 'suspect', id: ID, incarnation: 3, from: 'other' },
  { type: 'dead', id: ID, incarnation: 0, from: 'other' },
  { type: 'left', id: ID, incarnation: 7, from: ID },
  {
    type: 'push-pull',
    seq: 5,
    join: true,
    reply: false,
    entries: [
      { id: ID, incarnation: 1, status: 'alive', addrs: ['/memory/a'], meta: new Uint8Array([9]) },
      { id: 'b', incarnation: 0, status: 'left', addrs: [], meta: new Uint8Array() }
    ]
  },
  { type: 'ack', seq: 3, sum: '0123456789abcdef' }
]

const channelFor = (m: MembershipMessage): MembershipChannel => channelOf(m)

function normalise (m: unknown): unknown {
  return JSON.parse(JSON.stringify(m, (_k, v: unknown) => (v instanceof Uint8Array ? [...v] : v)))
}

test('every message type round-trips on its channel', () => {
  for (const m of samples) {
    const back = decodeMembershipMessage(encodeMembershipMessage(m), channelFor(m))
    assert.equal(normalise(back), normalise(m), m.type)
    if (m.type === 'alive') {
      const g = decodeGossip(encodeMembershipMessage(m))
      assert.ok(g.type === 'alive' && g.meta.constructor === Uint8Array, 'meta is a plain Uint8Array copy')
    }
  }
})

function code (fn: () => unknown): WireErrorCode | 'no-error' | 'other' {
  try {
    fn()
    return 'no-error'
  } catch (err) {
    return err instanceof WireError ? err.code : 'other'
  }
}

test('a maximal alive fits the 4 KiB gossip limit', () => {
  const big: MembershipMessage = {
    type: 'alive',
    id: 'i'.repeat(MAX_ID_LENGTH),
    incarnation: Number.MAX_SAFE_INTEGER,
    addrs: Array.from({ length: MAX_ADDRS }, () => '/' + 'a'.repeat(MAX_ADDR_LENGTH - 1)),
    meta: new Uint8Array(MAX_META_BYTES).fill(255),
    from: 'f'.repeat(MAX_ID_LENGTH)
  }
  const bytes = encodeMembershipMessage(big)
  assert.ok(bytes.length <= MAX_GOSSIP_BYTES, `${bytes.length} bytes`)
  assert.is(decodeGossip(bytes).id, big.id)
})

/** [1, "dead", {"__proto__": {"id": "x"}, "incarnation": 0}] written byte by byte. */
function protoBomb (): Uint8Array {
  const text = (t: string): number[] => [0x60 + t.length, ...new TextEncoder().encode(t)]
  return new Uint8Array([0x83, 0x01, ...text('dead'), 0xa2, ...text('__proto__'), 0xa1, ...text('id'), ...text('x'), ...text('incarnation'), 0x00])
}

test('rejections carry a typed code', () => {
  const env = (type: string, body: unknown, version = 1): Uint8Array => raw.encode([version, type, body])
  const alive = { id: ID, incarnation: 1, addrs: [], meta: new Uint8Array(), from: ID }
  const cases: Array<[string, () => unknown, WireErrorCode]> = [
    ['empty', () => decodeGossip(new Uint8Array()), 'malformed'],
    ['not cbor', () => decodeGossip(new Uint8Array([0xff, 0xff])), 'malformed'],
    ['truncated', () => decodeGossip(encodeMembershipMessage(samples[4]).subarray(0, 10)), 'malformed'],
    ['not an envelope', () => decodeGossip(raw.encode({ v: 1 })), 'malformed'],
    ['version 2', () => decodeGossip(env('alive', alive, 2)), 'unsupported-version'],
    ['version as string', () => decodeGossip(env('alive', alive, '1' as unknown as number)), 'unsupported-version'],
    ['ping on gossip', () => decodeGossip(encodeMembershipMessage({ type: 'ping', seq: 1 })), 'unknown-type'],
    ['push-pull on probe', () => decodeMembershipMessage(encodeMembershipMessage(samples[8]), 'probe'), 'unknown-type'],
    ['unknown type', () => decodeMembershipMessage(env('hello', {}), 'probe'), 'unknown-type'],
    ['oversized', () => decodeGossip(new Uint8Array(MAX_GOSSIP_BYTES + 1)), 'too-large'],
    ['negative incarnation', () => decodeGossip(env('alive', { ...alive, incarnation: -1 })), 'invalid-message'],
    ['fractional incarnation', () => decodeGossip(env('alive', { ...alive, incarnation: 1.5 })), 'invalid-message'],
    ['bigint incarnation', () => decodeGossip(env('alive', { ...alive, incarnation: 2n ** 63n })), 'invalid-message'],
    ['string seq', () => decodeMembershipMessage(env('ping', { seq: '1' }), 'probe'), 'invalid-message'],
    ['missing seq', () => decodeMembershipMessage(env('ping', {}), 'probe'), 'invalid-message'],
    ['extra key', () => decodeMembershipMessage(env('ping', { seq: 1, x: 1 }), 'probe'), 'invalid-message'],
    ['body is array', () => decodeMembershipMessage(env('ping', [1]), 'probe'), 'invalid-message'],
    ['empty id', () => decodeGossip(env('alive', { ...alive, id: '' })), 'invalid-message'],
    ['id with space', () => decodeGossip(env('alive', { ...alive, id: 'a b' })), 'invalid-message'],
    ['id too long', () => decodeGossip(env('dead', { id: 'x'.repeat(MAX_ID_LENGTH + 1), incarnation: 0, from: ID })), 'invalid-message'],
    ['meta too big', () => decodeMembershipMessage(env('alive', { ...alive, meta: new Uint8Array(MAX_META_BYTES + 1) }), 'gossip', 1e6), 'invalid-message'],
    ['meta as string', () => decodeGossip(env('alive', { ...alive, meta: 'abc' })), 'invalid-message'],
    ['too many addrs', () => decodeGossip(env('alive', { ...alive, addrs: Array(MAX_ADDRS + 1).fill('/a') })), 'invalid-message'],
    ['addr not a multiaddr', () => decodeGossip(env('alive', { ...alive, addrs: ['ip4/1.2.3.4'] })), 'invalid-message'],
    ['__proto__ key', () => decodeGossip(protoBomb()), 'invalid-message'],
    ['deep nesting', () => decodeMembershipMessage(new Uint8Array(1 << 20).fill(0x81), 'sync'), 'malformed'],
    ['huge declared length', () => decodeMembershipMessage(new Uint8Array([0x83, 0x01, 0x62, 0x61, 0x62, 0x9b, 0, 0, 0, 1, 0, 0, 0, 0]), 'sync'), 'malformed'],
    ['bad status', () => decodeMembershipMessage(env('push-pull', { seq: 1, join: false, reply: false, entries: [{ id: 'a', incarnation: 0, status: 'zombie', addrs: [], meta: new Uint8Array() }] }), 'sync'), 'invalid-message'],
    ['duplicate entries', () => decodeMembershipMessage(env('push-pull', { seq: 1, join: false, reply: false, entries: [samples[8].type === 'push-pull' ? samples[8].entries[0] : 0, samples[8].type === 'push-pull' ? samples[8].entries[0] : 0] }), 'sync'), 'invalid-message'],
    ['ack sum too short', () => decodeMembershipMessage(env('ack', { seq: 1, sum: 'abc' }), 'probe'), 'invalid-message'],
    ['ack sum upper case', () => decodeMembershipMessage(env('ack', { seq: 1, sum: '0123456789ABCDEF' }), 'probe'), 'invalid-message'],
    ['ack sum as number', () => decodeMembershipMessage(env('ack', { seq: 1, sum: 7 }), 'probe'), 'invalid-message'],
    ['ack sum too long', () => decodeMembershipMessage(env('ack', { seq: 1, sum: 'a'.repeat(17) }), 'probe'), 'invalid-message'],
    ['sum on a ping', () => decodeMembershipMessage(env('ping', { seq: 1, sum: '0123456789abcdef' }), 'probe'), 'invalid-message'],
    ['join not boolean', () => decodeMembershipMessage(env('push-pull', { seq: 1, join: 1, reply: false, entries: [] }), 'sync'), 'invalid-message']
  ]
  for (const [name, fn, expected] of cases) assert.is(code(fn), expected, name)
})

test('WireError names the offending field', () => {
  try {
    decodeGossip(raw.encode([1, 'alive', { id: ID, incarnation: -3, addrs: [], meta: new Uint8Array(), from: ID }]))
    assert.unreachable()
  } catch (err) {
    assert.instance(err, WireError)
    assert.is((err as WireError).field, 'alive.incarnation')
  }
})

test('fuzz: random bytes, mutated messages and random values only ever raise WireError', () => {
  const random = createPrng(99)
  const int = (n: number): number => Math.floor(random() * n)
  const channels: MembershipChannel[] = ['gossip', 'probe', 'sync']
  const encoded = samples.map(encodeMembershipMessage)
  const randomValue = (depth: number): unknown => {
    switch (int(depth > 2 ? 6 : 9)) {
      case 0: return int(2 ** 31) - 2 ** 30
      case 1: return 'x'.repeat(int(5)) + String.fromCharCode(int(0x3000))
      case 2: return random() < 0.5
      case 3: return null
      case 4: return new Uint8Array(int(8))
      case 5: return random() * 1e20
      case 6: return Array.from({ length: int(4) }, () => randomValue(depth + 1))
      case 7: return Object.fromEntries(Array.from({ length: int(5) }, () => [['seq', 'id', 'incarnation', 'entries', 'target', 'from', 'meta', 'addrs'][int(8)], randomValue(depth + 1)]))
      default: return new Map([[1, 2]])
    }
  }
  let accepted = 0
  let rejected = 0
  const attempt = (bytes: Uint8Array): void => {
    const channel = channels[int(3)]
    try {
      const m = decodeMembershipMessage(bytes, channel)
      // Anything accepted is a well-formed message that encodes and decodes identically.
      assert.equal(normalise(decodeMembershipMessage(encodeMembershipMessage(m), channel)), normalise(m))
      accepted++
    } catch (err) {
      if (!(err instanceof WireError)) throw new Error(`non-WireError escaped: ${String(err)}`)
      rejected++
    }
  }
  for (let i = 0; i < 400; i++) attempt(Uint8Array.from({ length: int(64) }, () => int(256)))
  for (let i = 0; i < 400; i++) {
    const b = Uint8Array.from(encoded[int(encoded.length)])
    for (let j = 1 + int(3); j > 0; j--) b[int(b.length)] = int(256)
    attempt(random() < 0.2 ? b.subarray(0, int(b.length)) : b)
  }
  for (let i = 0; i < 300; i++) {
    const type = ['ping', 'ack', 'ping-req', 'alive', 'suspect', 'push-pull', 'x'][int(7)]
    attempt(random() < 0.5 ? encodeEnvelope(type, randomValue(0)) : raw.encode(randomValue(0)))
  }
  assert.ok(rejected > 900, `rejected ${rejected}`)
  assert.ok(accepted + rejected === 1100)
  // The shared decoder is still healthy afterwards.
  assert.equal(normalise(decodeGossip(encodeMembershipMessage(samples[5]))), normalise(samples[5]))
})

test.run()
