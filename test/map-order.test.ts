import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { acceptMap, compareMaps, isSuccessor, mapHash, type ClusterMap } from '../protocol/map/index.js'
import { cidOfText, sampleMap, sortedIds } from './map-fixtures.js'

const ids = sortedIds(4)
const [low, mid, high, outsider] = ids

function next (prev: ClusterMap, over: Partial<ClusterMap> = {}): ClusterMap {
  return { ...prev, epoch: prev.epoch + 1, prev: mapHash(prev), ...over }
}

test('order: higher epoch wins regardless of coordinator', () => {
  const a = sampleMap({ epoch: 1, coordinator: low, members: ids })
  const b = next(a, { coordinator: high })
  assert.ok(compareMaps(b, a) > 0)
  assert.ok(compareMaps(a, b) < 0)
})

test('order: at equal epoch the lower coordinator id is greater', () => {
  const base = sampleMap({ members: ids })
  const byLow = next(base, { coordinator: low })
  const byMid = next(base, { coordinator: mid })
  assert.ok(compareMaps(byLow, byMid) > 0)
  assert.ok(compareMaps(byMid, byLow) < 0)
})

test('order: same epoch and coordinator falls back to the hash; equal maps compare 0', () => {
  const base = sampleMap({ members: ids })
  const a = next(base, { createdAt: 1 })
  const b = next(base, { createdAt: 2 })
  const sign = mapHash(a) < mapHash(b) ? -1 : 1
  assert.is(Math.sign(compareMaps(a, b)), sign)
  assert.is(Math.sign(compareMaps(b, a)), -sign)
  assert.is(compareMaps(a, { ...a, members: [...a.members].reverse() }), 0)
})

test('successor: epoch + 1 and prev = hash(prev); gaps and wrong chains are not successors', () => {
  const e1 = sampleMap({ members: ids })
  const e2 = next(e1)
  const e3 = next(e2)
  assert.ok(isSuccessor(e2, e1))
  assert.ok(isSuccessor(e3, e2))
  assert.not.ok(isSuccessor(e3, e1))
  assert.not.ok(isSuccessor({ ...e2, prev: cidOfText('other') }, e1))
})

function ctx (signer: string, known: ClusterMap[] = [], members = ids): Parameters<typeof acceptMap>[2] {
  const byHash = new Map(known.map(m => [mapHash(m), m]))
  return { signer, isKnownMember: id => members.includes(id), known: h => byHash.get(h) }
}

test('accept: direct successor signed by its coordinator', () => {
  const e1 = sampleMap({ members: ids })
  const e2 = next(e1, { coordinator: low })
  assert.equal(acceptMap(e1, e2, ctx(low)), { accept: true })
})

test('accept: rejects a signer that is not the named coordinator', () => {
  const e1 = sampleMap({ members: ids })
  const e2 = next(e1, { coordinator: low })
  assert.equal(acceptMap(e1, e2, ctx(mid)), { accept: false, reason: 'signer-not-coordinator' })
})

test('accept: rejects a coordinator that is not a known member', () => {
  const e1 = sampleMap({ members: ids })
  const e2 = next(e1, { coordinator: outsider, members: ids })
  assert.equal(acceptMap(e1, e2, ctx(outsider, [], [low, mid, high])), { accept: false, reason: 'unknown-signer' })
})

test('accept: rejects older, equal and losing same-epoch maps', () => {
  const e1 = sampleMap({ members: ids })
  const e2 = next(e1, { coordinator: low })
  assert.equal(acceptMap(e2, e1, ctx(e1.coordinator)), { accept: false, reason: 'not-newer' })
  assert.equal(acceptMap(e2, e2, ctx(low)), { accept: false, reason: 'not-newer' })
  const rival = next(e1, { coordinator: mid })
  assert.equal(acceptMap(e2, rival, ctx(mid, [e1])), { accept: false, reason: 'not-newer' })
})

test('accept: a sibling from a lower coordinator replaces ours (partition heal)', () => {
  const e1 = sampleMap({ members: ids })
  const ours = next(e1, { coordinator: mid })
  const theirs = next(e1, { coordinator: low })
  assert.equal(acceptMap(ours, theirs, ctx(low, [e1, ours])), { accept: true })
})

test('accept: a gap asks for catch-up naming the missing map', () => {
  const e1 = sampleMap({ members: ids })
  const e2 = next(e1)
  const e3 = next(e2)
  assert.equal(acceptMap(e1, e3, ctx(e3.coordinator, [e1])), { accept: false, catchUp: true, missing: mapHash(e2) })
  // once e2 is known, e3 chains
  assert.equal(acceptMap(e1, e3, ctx(e3.coordinator, [e1, e2])), { accept: true })
})

test('accept: a prev that names a map at the wrong epoch is rejected', () => {
  const e1 = sampleMap({ members: ids })
  const e2 = next(e1)
  const bogus = { ...next(e2), epoch: 4 } // claims epoch 4 but chains to e2 (epoch 2)
  assert.equal(acceptMap(e1, bogus, ctx(bogus.coordinator, [e1, e2])), { accept: false, reason: 'bad-prev' })
})

test('accept: a node with no map trusts the first properly signed one', () => {
  const e5 = sampleMap({ epoch: 5, prev: cidOfText('unknown'), members: ids })
  assert.equal(acceptMap(undefined, e5, ctx(e5.coordinator)), { accept: true })
  assert.equal(acceptMap(undefined, e5, ctx(mid)), { accept: false, reason: 'signer-not-coordinator' })
})

test.run()
