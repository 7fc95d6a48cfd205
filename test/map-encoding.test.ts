import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { Encoder } from 'cbor-x'
import { decodeMap, encodeMap, isPeerIdString, mapHash, MapError, MAX_MAP_BYTES, type ClusterMap } from '../protocol/map/index.js'
import { cidOfText, fakePeerId, sampleMap, sortedIds } from './map-fixtures.js'

const plain = new Encoder({ useRecords: false })

test('encode/decode round-trips a map', () => {
  const m = sampleMap()
  assert.equal(decodeMap(encodeMap(m)), m)
})

test('canonical: keys in another order and members shuffled give the same bytes and hash', () => {
  const m = sampleMap()
  const shuffled = {
    members: [...m.members].reverse(),
    rings: { account: { overload: 0, minPartHours: 0, replicas: 2.5, partPower: 8, builderCid: m.rings.account.builderCid, cid: m.rings.account.cid }, object: { ...m.rings.object } },
    createdAt: m.createdAt,
    prev: null,
    coordinator: m.coordinator,
    epoch: 1,
    version: 1
  } as ClusterMap
  assert.equal(Buffer.from(encodeMap(shuffled)).toString('hex'), Buffer.from(encodeMap(m)).toString('hex'))
  assert.is(mapHash(shuffled), mapHash(m))
  assert.is.not(mapHash({ ...m, epoch: 2, prev: cidOfText('x') }), mapHash(m))
})

test('hash is a CIDv1 string and stable across calls', () => {
  const m = sampleMap()
  assert.match(mapHash(m), /^bafkrei[a-z2-7]{52}$/)
  assert.is(mapHash(m), mapHash(structuredClone(m)))
})

function rejects (over: Record<string, unknown>, field: string): void {
  const bad = { ...sampleMap(), ...over }
  try {
    encodeMap(bad as ClusterMap)
    assert.unreachable(`accepted bad ${field}`)
  } catch (err) {
    assert.instance(err, MapError)
    assert.is((err as MapError).code, 'MAP_INVALID')
    assert.ok((err as MapError).field?.startsWith(field), `${field}: got field ${String((err as MapError).field)}`)
  }
  // the same value arriving as bytes is refused by decodeMap too
  assert.throws(() => decodeMap(new Uint8Array(plain.encode(bad))), (e: unknown) => e instanceof MapError)
}

const ring = sampleMap().rings.object

test('validation rejects each bad field', () => {
  rejects({ version: 2 }, 'version')
  rejects({ epoch: 0 }, 'epoch')
  rejects({ epoch: 1.5 }, 'epoch')
  rejects({ epoch: '3' }, 'epoch')
  rejects({ coordinator: 'not-a-peer-id' }, 'coordinator')
  rejects({ coordinator: fakePeerId(99) }, 'coordinator') // well formed but not a member
  rejects({ prev: cidOfText('p') }, 'prev') // epoch 1 must have null prev
  rejects({ epoch: 2, prev: null }, 'prev')
  rejects({ epoch: 2, prev: 'QmNotARawCid' }, 'prev')
  rejects({ rings: { 'Bad Name': ring } }, 'rings.Bad Name')
  rejects({ rings: { ['x'.repeat(33)]: ring } }, 'rings.x')
  rejects({ rings: { object: { ...ring, cid: 'bafy-nope' } } }, 'rings.object.cid')
  rejects({ rings: { object: { ...ring, builderCid: cidOfText('b').toUpperCase() } } }, 'rings.object.builderCid')
  rejects({ rings: { object: { ...ring, partPower: 33 } } }, 'rings.object.partPower')
  rejects({ rings: { object: { ...ring, replicas: 0.5 } } }, 'rings.object.replicas')
  rejects({ rings: { object: { ...ring, replicas: Number.NaN } } }, 'rings.object.replicas')
  rejects({ rings: { object: { ...ring, minPartHours: -1 } } }, 'rings.object.minPartHours')
  rejects({ rings: { object: { ...ring, overload: Infinity } } }, 'rings.object.overload')
  rejects({ rings: { object: { ...ring, size: -5 } } }, 'rings.object.size')
  rejects({ rings: { object: { ...ring, extra: 1 } } }, 'rings.object.extra')
  rejects({ members: [] }, 'members')
  rejects({ members: [...sortedIds(3), 'zzz'] }, 'members[3]')
  rejects({ members: [...sortedIds(3), sortedIds(3)[1]] }, 'members')
  rejects({ createdAt: -1 }, 'createdAt')
  rejects({ surprise: true }, 'map.surprise')
})

test('decode rejects garbage, non-maps and oversized input', () => {
  assert.throws(() => decodeMap(new Uint8Array([0xff, 0x00, 0x13])), (e: unknown) => e instanceof MapError && e.code === 'MAP_DECODE')
  assert.throws(() => decodeMap(new Uint8Array(plain.encode([1, 2, 3]))), (e: unknown) => e instanceof MapError && e.code === 'MAP_INVALID')
  assert.throws(() => decodeMap(new Uint8Array(MAX_MAP_BYTES + 1)), (e: unknown) => e instanceof MapError && e.code === 'MAP_TOO_LARGE')
})

test('peer id check: real shapes pass, near misses fail', () => {
  assert.ok(isPeerIdString(fakePeerId(1)))
  assert.ok(fakePeerId(1).startsWith('12D3KooW'))
  assert.ok(isPeerIdString('QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N'))
  assert.not.ok(isPeerIdString(fakePeerId(1).slice(0, -1))) // truncated multihash
  assert.not.ok(isPeerIdString(fakePeerId(1) + '0')) // '0' is not base58
  assert.not.ok(isPeerIdString(42))
})

test.run()
