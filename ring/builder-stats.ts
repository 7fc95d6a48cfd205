// Swift's quality figures for a built ring: balance (how far devices are from their
// weight share) and dispersion (how many replicas sit above their tier's max).
import { LEVELS, LEVEL_DEVICE, LEVEL_REGION, ROOT, type TierTree, buildTierTree } from './placement-tree.js'
import { planShares } from './placement-plan.js'
import type { RingData, RingDevice } from './types.js'

/** Swift reports this balance for a device that holds partitions but has weight 0. */
export const MAX_BALANCE = 999.99

export interface DeviceStats {
  id: number
  weight: number
  /** Partition-replicas on the device. */
  assigned: number
  /** Its weight share: parts × replicas × weight / totalWeight. */
  wanted: number
  /** 100 × assigned / wanted − 100 (MAX_BALANCE for weight 0 holding replicas, 0 for an idle weight-0 device). */
  balance: number
  /**
   * What the replica plan aims for: differs from `wanted` only where dispersion binds
   * (a device cannot hold two replicas of a partition, and overload shifts shares).
   */
  planned: number
}

export interface RingStats {
  parts: number
  /** Replicas as a real number (fractional rings have a shorter last row). */
  replicas: number
  /** Max over devices of |balance|. */
  balance: number
  /** Swift's dispersion percentage: replicas above Swift's weight-blind tier maximum (swiftMaxReplicas). */
  dispersion: number
  /** The same count against this builder's weight-aware plan: 0 means the builder met its plan. */
  plannedDispersion: number
  devices: DeviceStats[]
}

/** Replicas of a ring from its rows: full rows plus the fraction the last row covers. */
export function replicasOfRows (rows: ReadonlyArray<Uint16Array>, parts: number): number {
  if (rows.length === 0) return 0
  const last = rows[rows.length - 1].length
  return last === parts ? rows.length : rows.length - 1 + last / parts
}

export function assignedPerDevice (rows: ReadonlyArray<Uint16Array>, deviceSlots: number): Int32Array {
  const assigned = new Int32Array(deviceSlots)
  for (const row of rows) {
    for (let p = 0; p < row.length; p++) {
      const dev = row[p]
      if (dev < deviceSlots) assigned[dev]++
    }
  }
  return assigned
}

/** Partition-replicas the plan gives each device id (real-valued, before rounding). */
export function plannedPerDevice (tree: TierTree, share: Float64Array, total: number, deviceSlots: number): Float64Array {
  const out = new Float64Array(deviceSlots)
  for (let node = 0; node < tree.nodeCount; node++) {
    const dev = tree.devOfLeaf[node]
    if (dev >= 0 && share[0] > 0) out[dev] = total * share[node] / share[0]
  }
  return out
}

export function deviceStats (devs: ReadonlyArray<RingDevice | null>, assigned: Int32Array, parts: number, replicas: number, planned: Float64Array): DeviceStats[] {
  let totalWeight = 0
  for (const d of devs) if (d != null) totalWeight += d.weight
  const out: DeviceStats[] = []
  for (const d of devs) {
    if (d == null) continue
    const wanted = totalWeight > 0 ? parts * replicas * d.weight / totalWeight : 0
    const got = assigned[d.id] ?? 0
    const balance = wanted > 0 ? 100 * got / wanted - 100 : got > 0 ? MAX_BALANCE : 0
    out.push({ id: d.id, weight: d.weight, assigned: got, wanted, balance, planned: planned[d.id] ?? 0 })
  }
  return out
}

export function maxAbsBalance (devices: DeviceStats[]): number {
  let worst = 0
  for (const d of devices) worst = Math.max(worst, Math.abs(d.balance))
  return worst
}

/**
 * Swift's per-tier maximum, which ignores weights: the root holds `replicas`, each
 * child that has weighted devices may hold ceil(parent's max / such children), a
 * device at most one, and a tier with only weight-0 devices none. Reporting against
 * this, not against our weight-aware plan, keeps `dispersion` comparable with Swift's.
 */
export function swiftMaxReplicas (tree: TierTree, replicas: number): Int32Array {
  const real = new Float64Array(tree.nodeCount)
  real[ROOT] = replicas
  // Nodes are numbered level by level, so a parent is always settled before its children.
  for (let node = 0; node < tree.nodeCount; node++) {
    const first = tree.firstChild[node]
    const count = tree.childCount[node]
    let weighted = 0
    for (let c = first; c < first + count; c++) if (tree.cap[c] > 0) weighted++
    for (let c = first; c < first + count; c++) {
      if (tree.cap[c] === 0) continue
      const share = Math.ceil(real[node] / weighted - 1e-9)
      real[c] = tree.level[c] === LEVEL_DEVICE ? Math.min(1, share) : share
    }
  }
  return Int32Array.from(real)
}

/**
 * 100 × Σ over partitions of the replicas above a tier node's max, taken at the
 * partition's worst tier level, ÷ (parts × replicas). A device's max is one replica.
 */
export function dispersionPercent (tree: TierTree, max: Int32Array, rows: ReadonlyArray<Uint16Array>, parts: number, replicas: number): number {
  const nRows = rows.length
  const leaves = new Int32Array(nRows)
  let excess = 0
  for (let p = 0; p < parts; p++) {
    for (let r = 0; r < nRows; r++) {
      const dev = p < rows[r].length ? rows[r][p] : 0xffff
      leaves[r] = dev < tree.leafOfDev.length ? tree.leafOfDev[dev] : -1
    }
    let worst = 0
    for (let level = LEVEL_REGION; level <= LEVEL_DEVICE; level++) {
      let over = 0
      for (let r = 0; r < nRows; r++) {
        if (leaves[r] < 0) continue
        const node = tree.ancestor[leaves[r] * LEVELS + level]
        let seenBefore = false
        let n = 0
        for (let r2 = 0; r2 < nRows; r2++) {
          if (leaves[r2] < 0 || tree.ancestor[leaves[r2] * LEVELS + level] !== node) continue
          if (r2 < r) seenBefore = true
          n++
        }
        if (seenBefore) continue
        const limit = level === LEVEL_DEVICE ? Math.min(1, max[node]) : max[node]
        if (n > limit) over += n - limit
      }
      if (over > worst) worst = over
    }
    excess += worst
  }
  return parts * replicas > 0 ? 100 * excess / (parts * replicas) : 0
}

/** Balance, dispersion and per-device figures of a built ring (what `ring show` prints). */
export function ringStats (ring: RingData, options: { overload?: number } = {}): RingStats {
  const parts = 2 ** ring.partPower
  const replicas = replicasOfRows(ring.rows, parts)
  const tree = buildTierTree(ring.devs)
  const plan = planShares(tree, replicas, options.overload ?? 0)
  const total = ring.rows.reduce((n, row) => n + row.length, 0)
  const planned = plannedPerDevice(tree, plan.share, total, ring.devs.length)
  const devices = deviceStats(ring.devs, assignedPerDevice(ring.rows, ring.devs.length), parts, replicas, planned)
  return {
    parts,
    replicas,
    balance: maxAbsBalance(devices),
    dispersion: dispersionPercent(tree, swiftMaxReplicas(tree, replicas), ring.rows, parts, replicas),
    plannedDispersion: dispersionPercent(tree, plan.max, ring.rows, parts, replicas),
    devices
  }
}
