// Compatibility with OpenStack Swift, proven by running Swift's own Python ring code.
// Without python3-swift the tests are skipped (and fail under CI=true).
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gunzipSync } from 'node:zlib'
import { decodeRingGz, encodeRingGz, type ByteOrder } from '../ring/format.js'
import { partitionFor, RingLookup } from '../ring/lookup.js'
import { pyFloatRepr } from '../ring/python-json.js'
import { rebalance } from '../ring/builder.js'
import { runRingCommand } from '../agent/ring-cli.js'
import type { DeviceSpec, RingData, RingDevice } from '../ring/types.js'
import { sampleRing } from './helpers/sample-ring.js'
import { swiftOrSkip } from './helpers/swift.js'

const swift = swiftOrSkip()
const dir = mkdtempSync(join(tmpdir(), 'ring-compat-'))

interface LoadedBySwift { part_shift: number, replica_count: number, devs: Array<Record<string, unknown> | null>, rows: number[][], version: number | null }
interface LookupBySwift { parts: Record<string, { primaries: number[], handoffs: number[] }>, paths: number[] }

const HASH = { prefix: 'pre fix', suffix: 'c0ffee-suffix' }

function writeRing (name: string, ring: RingData, byteorder: ByteOrder = 'little'): string {
  const path = join(dir, name)
  writeFileSync(path, encodeRingGz(ring, { byteorder, version: 4 }))
  return path
}

/** Swift's devs as our RingDevice: Swift's loader adds nothing to the dicts in the file. */
function swiftDevs (devs: LoadedBySwift['devs']): Array<RingDevice | null> {
  return devs.map(d => d == null ? null : d as unknown as RingDevice)
}

function samplePartitions (parts: number, count: number): number[] {
  const out = new Set([0, 1, parts - 1, Math.floor(parts / 2)])
  for (let i = 0; out.size < Math.min(count, parts); i++) out.add((i * 2654435761) % parts)
  return [...out].filter(p => p < parts).sort((a, b) => a - b)
}

function lookupRequest (path: string, ring: RingData, count: number): Record<string, unknown> {
  return { op: 'lookup', path, ...HASH, parts: samplePartitions(2 ** ring.partPower, count) }
}

/** Our primaries and complete handoff order must equal Swift's for each sampled partition. */
function assertSameLookups (ring: RingData, request: Record<string, unknown>, answer: LookupBySwift): void {
  const lookup = new RingLookup(ring)
  for (const part of request.parts as number[]) {
    const want = answer.parts[String(part)]
    assert.equal(lookup.primaryNodes(part).map(d => d.id), want.primaries, `primaries of ${part}`)
    assert.equal([...lookup.moreNodes(part)].map(d => d.id), want.handoffs, `handoffs of ${part}`)
  }
}

if (swift != null) {
  const s = swift

  test('Swift\'s RingData.load reads our rings: 3, 2.5, 2 and 1 replicas, both byte orders', () => {
    const cases = [[3, 'little'], [2.5, 'big'], [1, 'little'], [2, 'big'], [2.5, 'little']] as const
    const rings = cases.map(([replicas], i) => {
      const ring = sampleRing({ partPower: 9, replicas, devices: 14, regions: 2, zones: 3, holes: [5], seed: 11 + i })
      ring.devs[2] = { ...ring.devs[2]!, replication_ip: '10.9.9.9', replication_port: 6300, meta: 'ünïcode' }
      return ring
    })
    const answers = s.batch(cases.map(([replicas, byteorder], i) => ({ op: 'load', path: writeRing(`r${replicas}-${byteorder}.ring.gz`, rings[i], byteorder) }))) as LoadedBySwift[]
    cases.forEach(([replicas], i) => {
      const loaded = answers[i]
      assert.is(loaded.part_shift, 23)
      assert.is(loaded.replica_count, replicas)
      assert.is(loaded.version, 4)
      assert.equal(swiftDevs(loaded.devs), rings[i].devs)
      assert.equal(loaded.rows, rings[i].rows.map(r => [...r]))
    })
  })

  test('our decompressed payload is byte-identical to what Swift\'s RingData.save writes', () => {
    const ring = sampleRing({ partPower: 8, replicas: 2.5, devices: 9, regions: 2, holes: [1], seed: 3 })
    ring.devs[4] = { ...ring.devs[4]!, meta: 'tab\there "q" é', weight: 0.1 }
    const path = join(dir, 'by-swift.ring.gz')
    s.call({ op: 'save', path, devs: ring.devs, part_shift: 32 - ring.partPower, rows: ring.rows.map(r => [...r]), version: 4 })
    const theirs = readFileSync(path)
    const ours = encodeRingGz(ring, { version: 4, gzipName: 'by-swift.ring' })
    assert.equal(gunzipSync(ours), gunzipSync(theirs))
    // The gzip header (fixed mtime, XFL, OS, file name) matches too; the deflate bytes depend on the zlib build.
    assert.equal(Buffer.from(ours.subarray(0, 24)), theirs.subarray(0, 24))
  })

  test('primaries and the full handoff order match Swift\'s Ring, several topologies', () => {
    const topologies = [
      sampleRing({ partPower: 10, replicas: 3, devices: 24, regions: 3, zones: 2, ipsPerZone: 2, seed: 1 }),
      sampleRing({ partPower: 10, replicas: 2.5, devices: 30, regions: 1, zones: 5, ipsPerZone: 3, holes: [7, 8], seed: 2 }),
      sampleRing({ partPower: 6, replicas: 3, devices: 5, regions: 1, zones: 1, ipsPerZone: 1, seed: 3 }),
      sampleRing({ partPower: 1, replicas: 1.5, devices: 3, regions: 2, zones: 1, ipsPerZone: 1, seed: 4 })
    ]
    const requests = topologies.map((ring, i) => lookupRequest(writeRing(`topo${i}.ring.gz`, ring), ring, 40))
    const answers = s.batch(requests) as LookupBySwift[]
    topologies.forEach((ring, i) => assertSameLookups(ring, requests[i], answers[i]))
  })

  test('handoffs match where Swift walks with a step > 1 (part power 17)', () => {
    // 2^17 parts: the walk steps by 2 and wraps to 2 - (parts - start) % 2.
    const ring = sampleRing({ partPower: 17, replicas: 3, devices: 40, regions: 2, zones: 4, ipsPerZone: 3, seed: 9 })
    const request = lookupRequest(writeRing('p17.ring.gz', ring, 'big'), ring, 12)
    assertSameLookups(ring, request, s.call(request) as LookupBySwift)
  })

  test('partitionFor agrees with Swift\'s get_part, with prefix and suffix', () => {
    const ring = sampleRing({ partPower: 14, replicas: 1, devices: 3, seed: 1 })
    const path = writeRing('p14.ring.gz', ring)
    const paths: Array<[string, string | null, string | null]> = [
      ['AUTH_test', null, null], ['AUTH_test', 'photos', null], ['AUTH_test', 'photos', 'cat.jpg'],
      ['AUTH_ünï', 'cöntainer', 'ö/b/j ✓ 😀'], ['a', '', null], ['AUTH_x', 'c', 'a/b/../c?d=e']
    ]
    for (let i = 0; i < 40; i++) paths.push([`AUTH_${i}`, i % 3 === 0 ? null : `c${i * 7}`, i % 2 === 0 ? null : `o${i * 13}`])
    const usable = paths.filter(([, c, o]) => !(o != null && (c == null || c === '')))
    const answer = s.call({ op: 'lookup', path, ...HASH, paths: usable }) as LookupBySwift
    assert.equal(usable.map(([a, c, o]) => partitionFor(14, a, c ?? undefined, o ?? undefined, HASH)), answer.paths)
  })

  test('we read a ring Swift\'s RingBuilder wrote and give the same answers', () => {
    const devices: Array<Record<string, unknown>> = []
    for (let i = 0; i < 16; i++) {
      devices.push({ region: 1 + (i % 2), zone: 1 + (i % 4), ip: `10.0.${i % 4}.${i % 8}`, port: 6200, device: `sd${i}`, weight: 100 + (i % 3) * 50, meta: `m${i}`, replication_ip: `10.1.${i % 4}.${i % 8}`, replication_port: 6300 })
    }
    const builds = [['swift3', 3], ['swift25', 2.5]] as const
    const paths = builds.map(([name]) => join(dir, `${name}.ring.gz`))
    const built = s.batch(builds.flatMap(([, replicas], i) => [
      { op: 'build', path: paths[i], devices, part_power: 10, replicas, min_part_hours: 1, seed: 7 },
      { op: 'load', path: paths[i] }
    ]))
    const decoded = paths.map(path => decodeRingGz(readFileSync(path)))
    const lookupRequests = paths.map((path, i) => lookupRequest(path, decoded[i], 30))
    const lookups = s.batch(lookupRequests) as LookupBySwift[]
    builds.forEach(([, replicas], i) => {
      const ours = decoded[i]
      const loaded = built[2 * i + 1] as LoadedBySwift
      assert.is(ours.partPower, 32 - loaded.part_shift)
      assert.equal(ours.rows.map(r => [...r]), loaded.rows)
      assert.equal(ours.devs, swiftDevs(loaded.devs))
      assert.is(ours.rows.reduce((n, r) => n + r.length, 0) / ours.rows[0].length, replicas)
      assert.is(ours.version, loaded.version ?? undefined)
      assertSameLookups(ours, lookupRequests[i], lookups[i])
      // Re-encoding Swift's ring yields Swift's payload exactly.
      assert.equal(gunzipSync(encodeRingGz(ours, { byteorder: ours.byteorder, version: ours.version })), gunzipSync(readFileSync(paths[i])))
    })
  })

  test('rings our builder makes load in Swift with the same table and the same lookups', () => {
    const devices: DeviceSpec[] = []
    for (let i = 0; i < 20; i++) devices.push({ region: 1 + (i % 2), zone: 1 + (i % 5), ip: `10.${i % 2}.${i % 5}.${i % 3}`, port: 6200 + (i % 2), device: `d${i}`, weight: 50 + (i % 4) * 25, meta: '' })
    const cases = [[3, 'little'], [2.5, 'big']] as const
    const built = cases.map(([replicas]) => rebalance({ params: { partPower: 11, replicas, minPartHours: 1, overload: 0, seed: 3 }, devices, now: 0 }).ring)
    const paths = cases.map(([replicas, byteorder], i) => writeRing(`ours-${replicas}.ring.gz`, built[i], byteorder))
    const lookupRequests = paths.map((path, i) => lookupRequest(path, built[i], 25))
    const answers = s.batch([...paths.map(path => ({ op: 'load', path })), ...lookupRequests])
    cases.forEach(([replicas], i) => {
      const loaded = answers[i] as LoadedBySwift
      assert.is(loaded.replica_count, replicas)
      assert.equal(loaded.rows, built[i].rows.map(r => [...r]))
      assert.equal(swiftDevs(loaded.devs), built[i].devs)
      assertSameLookups(built[i], lookupRequests[i], answers[cases.length + i] as LookupBySwift)
    })
  })

  test('ring show reports the balance and dispersion Swift\'s builder reported', async () => {
    const spread = Array.from({ length: 16 }, (_, i) => ({ region: 1 + (i % 2), zone: 1 + (i % 4), ip: `10.0.${i % 4}.${i % 8}`, port: 6200, device: `sd${i}`, weight: 100 + (i % 3) * 50, meta: '' }))
    const skewed = Array.from({ length: 7 }, (_, i) => ({ region: 1, zone: 1 + (i % 2), ip: `10.0.${i % 2}.${i}`, port: 6200, device: `sd${i}`, weight: i === 0 ? 1000 : 100, meta: '' }))
    // Zone weights 1000/100/100: Swift's weight-blind tier maximum (one replica per
    // zone) and a weight-proportional layout disagree, so dispersion is not 0.
    const heavyZone = Array.from({ length: 9 }, (_, i) => ({ region: 1, zone: 1 + Math.floor(i / 3), ip: `10.1.${Math.floor(i / 3)}.${i}`, port: 6200, device: `sd${i}`, weight: i < 3 ? 1000 : 100, meta: '' }))
    const cases = [[spread, 3], [spread, 2.5], [skewed, 3], [heavyZone, 3], [heavyZone, 2.5]] as const
    const paths = cases.map((_, i) => join(dir, `stats${i}.ring.gz`))
    const reports = s.batch(cases.map(([devices, replicas], i) => ({ op: 'build', path: paths[i], devices, part_power: 10, replicas, min_part_hours: 1, seed: 7 }))) as Array<{ balance: number, dispersion: number, dispersion_all_parts: number }>
    for (let i = 0; i < cases.length; i++) {
      let out = ''
      const code = await runRingCommand(['show', paths[i], '--json'], { stdout: t => { out += t }, stderr: t => { out += t } })
      assert.is(code, 0, out)
      const shown = JSON.parse(out) as { balance: number, dispersion: number }
      assert.ok(Math.abs(shown.balance - reports[i].balance) < 1e-9, `case ${i}: balance ${shown.balance} vs Swift ${reports[i].balance}`)
      // Whole-replica rings: Swift's own figure. Fractional ones: Swift's definition over
      // every partition (its own walk skips those beyond the short last row).
      assert.ok(Math.abs(shown.dispersion - reports[i].dispersion_all_parts) < 1e-9, `case ${i}: dispersion ${shown.dispersion} vs Swift's definition ${reports[i].dispersion_all_parts}`)
      if (Number.isInteger(cases[i][1])) assert.is(shown.dispersion, reports[i].dispersion, `case ${i}: dispersion as Swift reports it`)
    }
    assert.is(reports[2].balance, 78.125, 'the skewed case really is unbalanced')
    assert.ok(reports[3].dispersion > 0 && reports[4].dispersion > 0, 'the heavy-zone cases really are dispersed unevenly')
  })

  test('pyFloatRepr prints weights exactly as Python json.dumps does', () => {
    let state = 12345
    const values = [100, 0.5, 1e-5, 1e16, 123.456, 1 / 3, 2 ** 53, 1e-4, 9.999999999999999e15]
    for (let i = 0; i < 200; i++) {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0
      values.push((state / 2 ** 32) * 10 ** ((state % 40) - 20))
    }
    const { texts } = s.call({ op: 'dumps', values }) as { texts: string[] }
    assert.equal(values.map(pyFloatRepr), texts)
  })
} else {
  test.skip('Swift compatibility (python3-swift not installed)', () => {})
}

test.after(() => { rmSync(dir, { recursive: true, force: true }) })

test.run()
