// The placement engine's working state and its primitive operations: per tier node
// counts and deficits kept in step with the rows, and the "loaded partition" (the
// leaves of one partition's replicas) that every eligibility check reads.
import type { Prng } from './builder-prng.js'
import { LEVELS, LEVEL_DEVICE, LEVEL_REGION, type TierTree } from './placement-tree.js'

export const NO_DEVICE = 0xffff

export interface PlacementInput {
  tree: TierTree
  max: Int32Array
  target: Int32Array
  /** Partition-replicas per tier node in `rows` as given (devices without a leaf excluded). */
  current: Int32Array
  /** Working rows, changed in place; same shape as the result. */
  rows: Uint16Array[]
  /** The rows before this rebalance, resized to the same shape (NO_DEVICE where there was no slot). */
  previous: Uint16Array[]
  parts: number
  /** Per partition: 1 if min_part_hours allow moving it. */
  movable: Uint8Array
  rng: Prng
}

export class PlacementState {
  readonly tree: TierTree
  readonly max: Int32Array
  readonly target: Int32Array
  readonly rows: Uint16Array[]
  readonly previous: Uint16Array[]
  readonly parts: number
  readonly movable: Uint8Array
  readonly rng: Prng
  readonly nRows: number
  readonly rowLength: Int32Array
  /** Partition-replicas under each node. */
  readonly count: Int32Array
  /** Sum over the leaves under a node of max(0, target - count). */
  readonly deficit: Int32Array
  /** 1 / max(1, target): keys compare need relative to target without dividing. */
  readonly inverseTarget: Float64Array
  /** Nodes whose subtree held no eligible leaf during the search stamped `stamp`. */
  readonly failed: Uint32Array
  stamp = 0
  /** Leaf of each row's replica of the loaded partition: -1 empty, -2 no slot in that row. */
  readonly pLeaf: Int32Array
  /** Partitions that already had a replica with data move in this rebalance. */
  readonly locked: Uint8Array
  /** First leaf node: leaves are numbered last and contiguously. */
  readonly firstLeaf: number

  constructor (input: PlacementInput) {
    this.tree = input.tree
    this.max = input.max
    this.target = input.target
    this.rows = input.rows
    this.previous = input.previous
    this.parts = input.parts
    this.movable = input.movable
    this.rng = input.rng
    this.nRows = input.rows.length
    this.rowLength = Int32Array.from(input.rows, row => row.length)
    const n = this.tree.nodeCount
    this.count = new Int32Array(input.current)
    this.deficit = new Int32Array(n)
    this.inverseTarget = new Float64Array(n)
    for (let i = 0; i < n; i++) this.inverseTarget[i] = 1 / Math.max(1, this.target[i])
    this.failed = new Uint32Array(n)
    this.pLeaf = new Int32Array(this.nRows)
    this.locked = new Uint8Array(this.parts)
    let firstLeaf = n
    while (firstLeaf > 0 && this.tree.level[firstLeaf - 1] === LEVEL_DEVICE) firstLeaf--
    this.firstLeaf = firstLeaf
    const { ancestor } = this.tree
    for (let leaf = firstLeaf; leaf < n; leaf++) {
      const d = Math.max(0, this.target[leaf] - this.count[leaf])
      for (let l = 0; l < LEVELS; l++) this.deficit[ancestor[leaf * LEVELS + l]] += d
    }
  }

  addCount (leaf: number, delta: number): void {
    const t = this.target[leaf]
    const before = this.count[leaf]
    const dDeficit = Math.max(0, t - before - delta) - Math.max(0, t - before)
    const base = leaf * LEVELS
    for (let l = 0; l < LEVELS; l++) {
      const a = this.tree.ancestor[base + l]
      this.count[a] += delta
      this.deficit[a] += dDeficit
    }
  }

  load (p: number): void {
    const { leafOfDev } = this.tree
    for (let r = 0; r < this.nRows; r++) {
      if (p >= this.rowLength[r]) { this.pLeaf[r] = -2; continue }
      const dev = this.rows[r][p]
      this.pLeaf[r] = dev < leafOfDev.length ? leafOfDev[dev] : -1
    }
  }

  /** Replicas of the loaded partition under `node` (at `level`), not counting row `skipRow`. */
  countUnder (node: number, level: number, skipRow: number): number {
    let c = 0
    const { ancestor } = this.tree
    for (let r = 0; r < this.nRows; r++) {
      const l = this.pLeaf[r]
      if (l >= 0 && r !== skipRow && ancestor[l * LEVELS + level] === node) c++
    }
    return c
  }

  /** Whether `leaf` may take the loaded partition's replica of row `skipRow` (tier maxima, one per device). */
  canTake (leaf: number, skipRow: number): boolean {
    if (this.tree.cap[leaf] === 0) return false
    const base = leaf * LEVELS
    for (let l = LEVEL_REGION; l <= LEVEL_DEVICE; l++) {
      const node = this.tree.ancestor[base + l]
      if (this.countUnder(node, l, skipRow) >= (l === LEVEL_DEVICE ? 1 : this.max[node])) return false
    }
    return true
  }

  /** Puts the loaded partition's row r on `leaf`; locks the partition if data moves. */
  place (p: number, r: number, leaf: number): void {
    const previousDev = this.rows[r][p]
    const old = this.pLeaf[r]
    if (old >= 0) this.addCount(old, -1)
    this.rows[r][p] = this.tree.devOfLeaf[leaf]
    this.pLeaf[r] = leaf
    this.addCount(leaf, 1)
    if (previousDev !== NO_DEVICE && this.previous[r][p] !== NO_DEVICE) this.locked[p] = 1
  }

  /** Empties row r of the loaded partition; the replica's data is now in flight. */
  vacate (p: number, r: number): void {
    const old = this.pLeaf[r]
    if (old >= 0) this.addCount(old, -1)
    if (this.previous[r][p] !== NO_DEVICE) this.locked[p] = 1
    this.rows[r][p] = NO_DEVICE
    this.pLeaf[r] = -1
  }

  /** Surplus of a leaf relative to its target: how urgently it should give a replica away. */
  surplusKey (leaf: number): number {
    return (this.count[leaf] - this.target[leaf]) * this.inverseTarget[leaf]
  }

  /** Partition-replicas per device id (ids without a tree leaf hold none after a run). */
  deviceCounts (deviceSlots: number): Int32Array {
    const out = new Int32Array(deviceSlots)
    for (let node = this.firstLeaf; node < this.tree.nodeCount; node++) out[this.tree.devOfLeaf[node]] = this.count[node]
    return out
  }
}
