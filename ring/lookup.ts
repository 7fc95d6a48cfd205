// Ring lookups with Swift's exact semantics (swift.common.ring.Ring): the partition of a
// path, a partition's primary devices, and its handoffs in `get_more_nodes` order.
// Handoff facts: the walk starts at partition uint32_be(md5(str(part)))>>part_shift and
// steps by max(1, parts/65536) to the end, then wraps to `inc - (parts-start) % inc` (which
// is `inc`, not 0, when the step divides evenly — partition 0 is then never visited; kept
// for parity). It walks that sequence up to four times: first taking devices in regions
// no chosen device is in, then new zones, then new ips, then any unused device. Each pass
// stops once every region/zone/ip/device that holds at least one partition is used.
import { createHash } from 'node:crypto'
import type { RingData, RingDevice } from './types.js'

export class LookupError extends Error {
  override readonly name = 'LookupError'
  constructor (readonly code: 'bad-path' | 'bad-partition' | 'bad-ring', message: string) {
    super(message)
  }
}

/** swift.conf's `swift_hash_path_prefix` / `swift_hash_path_suffix`. */
export interface HashPathConfig {
  prefix?: string
  suffix: string
}

const NONE = 0xffff

function md5 (data: Uint8Array | string): Buffer {
  return createHash('md5').update(data).digest()
}

/**
 * Swift's `hash_path(account, container, object, raw_digest=True)`: md5(prefix + "/" +
 * account[/container[/object]] + suffix). Like Swift, an empty container/object counts as
 * absent, and an object needs a container.
 */
export function hashPath (account: string, container: string | undefined, object: string | undefined, config: HashPathConfig): Buffer {
  if (typeof account !== 'string') throw new LookupError('bad-path', 'account must be a string')
  const hasContainer = container !== undefined && container !== ''
  const hasObject = object !== undefined && object !== ''
  if (hasObject && !hasContainer) throw new LookupError('bad-path', 'container is required if object is provided')
  let path = account
  if (hasContainer) path += '/' + container
  if (hasObject) path += '/' + object
  return md5(Buffer.from((config.prefix ?? '') + '/' + path + config.suffix, 'utf8'))
}

/** Swift's `get_part`: the first 4 bytes of hashPath as a big-endian uint32, shifted right by 32 − partPower. */
export function partitionFor (partPower: number, account: string, container: string | undefined, object: string | undefined, config: HashPathConfig): number {
  if (!Number.isInteger(partPower) || partPower < 0 || partPower > 32) throw new LookupError('bad-path', `partPower must be an integer 0..32, got ${partPower}`)
  const digest = hashPath(account, container, object, config)
  return partPower === 0 ? 0 : digest.readUInt32BE(0) >>> (32 - partPower)
}

/** A device as a lookup returns it. */
export type NodeEntry = RingDevice

function partitionCount (ring: RingData): number {
  return ring.rows.length === 0 ? 0 : ring.rows[0].length
}

function checkPart (ring: RingData, part: number): void {
  const parts = partitionCount(ring)
  if (!Number.isInteger(part) || part < 0 || part >= parts) {
    throw new LookupError('bad-partition', `partition ${part} is outside 0..${parts - 1}`)
  }
}

/**
 * Precomputed per-ring bookkeeping (Swift's `_update_bookkeeping`): how many regions,
 * zones, ips and devices hold partitions. Build once per ring, then look up cheaply.
 */
export class RingLookup {
  readonly parts: number
  private readonly numRegions: number
  private readonly numZones: number
  private readonly numIps: number
  private readonly numAssignedDevs: number

  constructor (readonly ring: RingData) {
    this.parts = partitionCount(ring)
    const assigned = new Uint8Array(NONE + 1)
    for (const row of ring.rows) for (let p = 0; p < row.length; p++) assigned[row[p]] = 1
    const regions = new Set<number>()
    const zones = new Set<string>()
    const ips = new Set<string>()
    let devs = 0
    for (const dev of ring.devs) {
      if (dev == null || assigned[dev.id] === 0) continue
      regions.add(dev.region)
      zones.add(zoneKey(dev))
      ips.add(ipKey(dev))
      devs++
    }
    this.numRegions = regions.size
    this.numZones = zones.size
    this.numIps = ips.size
    this.numAssignedDevs = devs
  }

  private device (id: number, where: string): RingDevice {
    const dev = this.ring.devs[id]
    if (dev == null) throw new LookupError('bad-ring', `${where} names device ${id}, which is not in the device list`)
    return dev
  }

  /** Swift's `get_part_nodes`: row[r][part] for every row long enough, first occurrence of each device. */
  primaryNodes (part: number): RingDevice[] {
    checkPart(this.ring, part)
    const seen = new Set<number>()
    const out: RingDevice[] = []
    this.ring.rows.forEach((row, r) => {
      if (part >= row.length || seen.has(row[part])) return
      seen.add(row[part])
      out.push(this.device(row[part], `row ${r} partition ${part}`))
    })
    return out
  }

  /** The partitions the handoff walk visits, in order (see the file comment). */
  private * walk (part: number): Generator<number> {
    const parts = this.parts
    const partShift = 32 - this.ring.partPower
    const start = partShift >= 32 ? 0 : md5(String(part)).readUInt32BE(0) >>> partShift
    const inc = Math.floor(parts / 65536) || 1
    for (let p = start; p < parts; p += inc) yield p
    for (let p = inc - ((parts - start) % inc); p < start; p += inc) yield p
  }

  /** Swift's `get_more_nodes`: every handoff device of `part`, best first. */
  * moreNodes (part: number): Generator<RingDevice> {
    const primaries = this.primaryNodes(part)
    const used = new Set(primaries.map(d => d.id))
    const regions = new Set(primaries.map(d => d.region))
    const zones = new Set(primaries.map(zoneKey))
    const ips = new Set(primaries.map(ipKey))
    // Pass k accepts a device only if it is unused and new at tier k; a chosen device
    // also marks its zone and ip, as in Swift.
    const passes: Array<{ done: () => boolean, fresh: (d: RingDevice) => boolean }> = [
      { done: () => regions.size === this.numRegions, fresh: d => !regions.has(d.region) },
      { done: () => zones.size === this.numZones, fresh: d => !zones.has(zoneKey(d)) },
      { done: () => ips.size === this.numIps, fresh: d => !ips.has(ipKey(d)) },
      { done: () => used.size === this.numAssignedDevs, fresh: () => true }
    ]
    for (const pass of passes) {
      if (pass.done()) continue
      outer: for (const handoffPart of this.walk(part)) {
        for (const row of this.ring.rows) {
          if (handoffPart >= row.length) continue
          const id = row[handoffPart]
          if (used.has(id)) continue
          const dev = this.device(id, `partition ${handoffPart}`)
          if (!pass.fresh(dev)) continue
          used.add(id)
          regions.add(dev.region)
          zones.add(zoneKey(dev))
          ips.add(ipKey(dev))
          yield dev
          if (pass.done()) break outer
        }
      }
    }
  }

  /** The first `count` handoffs of `part` (swift-get-nodes prints as many as there are primaries). */
  handoffNodes (part: number, count: number): RingDevice[] {
    const out: RingDevice[] = []
    if (count <= 0) return out
    for (const dev of this.moreNodes(part)) {
      out.push(dev)
      if (out.length >= count) break
    }
    return out
  }
}

function zoneKey (d: RingDevice): string {
  return `${d.region}/${d.zone}`
}

function ipKey (d: RingDevice): string {
  return `${d.region}/${d.zone}/${d.ip}`
}

/** One-off primaries; for many lookups build a RingLookup once. */
export function primaryNodes (ring: RingData, part: number): RingDevice[] {
  checkPart(ring, part)
  return new RingLookup(ring).primaryNodes(part)
}

/** One-off handoffs; costs a pass over every row, so for many lookups build a RingLookup once. */
export function handoffNodes (ring: RingData, part: number, count: number): RingDevice[] {
  return new RingLookup(ring).handoffNodes(part, count)
}
