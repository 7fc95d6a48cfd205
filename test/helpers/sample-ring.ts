// Deterministic rings for codec and lookup tests that need no builder: devices spread
// over regions/zones/ips, and rows filled by a seeded PRNG with distinct devices per
// partition where possible.
import type { RingData, RingDevice } from '../../ring/types.js'

export interface SampleRingOptions {
  partPower: number
  replicas: number
  devices: number
  regions?: number
  zones?: number
  ipsPerZone?: number
  /** Device ids left as holes (null). */
  holes?: number[]
  seed?: number
}

export function sampleDevices (o: SampleRingOptions): Array<RingDevice | null> {
  const regions = o.regions ?? 1
  const zones = o.zones ?? 4
  const ipsPerZone = o.ipsPerZone ?? 2
  const devs: Array<RingDevice | null> = []
  for (let id = 0; id < o.devices; id++) {
    const region = 1 + (id % regions)
    const zone = 1 + (Math.floor(id / regions) % zones)
    const ip = `10.${region}.${zone}.${1 + (Math.floor(id / (regions * zones)) % ipsPerZone)}`
    devs.push({ id, region, zone, ip, port: 6200 + (id % 3), device: `sd${String.fromCharCode(97 + (id % 26))}${id}`, weight: 100 + (id % 5) * 12.5, meta: id % 7 === 0 ? `rack ${id}` : '' })
  }
  for (const h of o.holes ?? []) devs[h] = null
  return devs
}

export function sampleRing (o: SampleRingOptions): RingData {
  const devs = sampleDevices(o)
  const live = devs.filter((d): d is RingDevice => d != null).map(d => d.id)
  let state = (o.seed ?? 1) >>> 0
  const next = (): number => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0
    return state
  }
  const parts = 2 ** o.partPower
  const rowCount = Math.ceil(o.replicas)
  const rows: Uint16Array[] = []
  for (let r = 0; r < rowCount; r++) {
    const len = r === rowCount - 1 && o.replicas % 1 !== 0 ? Math.floor(parts * (o.replicas % 1)) : parts
    rows.push(new Uint16Array(len))
  }
  for (let p = 0; p < parts; p++) {
    const taken = new Set<number>()
    for (const row of rows) {
      if (p >= row.length) continue
      let id = live[next() % live.length]
      for (let tries = 0; taken.has(id) && tries < live.length; tries++) id = live[(live.indexOf(id) + 1) % live.length]
      taken.add(id)
      row[p] = id
    }
  }
  return { partPower: o.partPower, devs, rows }
}
