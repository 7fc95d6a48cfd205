// The placement engine. It works on the replica rows in place and makes two passes
// over the partitions, in a seeded random order:
//
// 1. Repair: empty slots and slots of removed devices are (re)filled; a partition
//    that holds two replicas on one device, a replica on a device of weight 0, or more
//    replicas in a tier node than the plan's max, gives one replica up, which is
//    re-placed at once. A new home is found
//    by walking the tier tree from the root, at each level taking the eligible child
//    that is furthest below its target (relative to it), where eligible means the
//    partition would not exceed the child's max.
// 2. Balance: while some device is below target, a partition with a replica on a device
//    above target moves that replica straight to an eligible device below target.
//    Every such move lowers one surplus and one deficit, so movement equals the
//    imbalance the new targets create, which is the least any builder can do. When
//    dispersion blocks every direct move, a two-move chain through a device at target
//    does the job (see chain()).
//
// Rules that hold throughout: a device holds at most one replica of a partition; a
// partition whose min_part_hours have not passed keeps its replicas (unless their
// device is gone); and once a replica that held data moves, the partition is locked for
// the rest of the rebalance (one replica in flight per partition). Filling a slot that
// held nothing moves no data, so it does not lock.
import { RingBuildError } from './errors.js'
import type { Prng } from './builder-prng.js'
import { LEVELS, LEVEL_DEVICE, LEVEL_REGION, LEVEL_IP, ROOT, type TierTree } from './placement-tree.js'

export const NO_DEVICE = 0xffff

const MODE_FILL = 0 // any eligible device, furthest below target first
const MODE_FILL_ANY_TIER = 1 // as MODE_FILL but ignoring tier maxima (last resort)
const MODE_BALANCE = 2 // only devices below target
const MODE_FILL_FAST = 3 // as MODE_FILL but settling for a good-enough child (slots that held no data)

/** Device visits allowed for exact placement per rebalance (see Placer.exactBudget). */
const EXACT_PLACEMENT_BUDGET = 50_000_000

/** Rounds of direct + chain passes at most; a round that finds no chain ends them. */
const BALANCE_ROUNDS = 16
/** Partition visits allowed for chain searches per rebalance, so a ring that cannot balance costs bounded time. */
const CHAIN_BUDGET = 4_000_000

export interface AssignInput {
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

export class Placer {
  private readonly tree: TierTree
  private readonly max: Int32Array
  private readonly target: Int32Array
  private readonly rows: Uint16Array[]
  private readonly previous: Uint16Array[]
  private readonly parts: number
  private readonly movable: Uint8Array
  private readonly rng: Prng
  private readonly nRows: number
  private readonly rowLength: Int32Array
  readonly count: Int32Array
  /** Sum over the leaves under a node of max(0, target - count). */
  readonly deficit: Int32Array
  private readonly inverseTarget: Float64Array
  private readonly failed: Uint32Array
  private stamp = 0
  /** Leaf of each row's replica of the loaded partition: -1 empty, -2 no slot in that row. */
  private readonly pLeaf: Int32Array
  /** Rows of the loaded partition already tried as donors. */
  private readonly triedRow: Uint8Array
  readonly locked: Uint8Array
  /** First leaf node: leaves are numbered last and contiguously. */
  private readonly firstLeaf: number
  /**
   * Device visits left for exact placement of replicas that move data; past it the
   * walk from the root takes over, so mass moves (say, a new zone forcing a replica
   * out of a third of the partitions) stay linear in partitions.
   */
  private exactBudget = EXACT_PLACEMENT_BUDGET
  private chainBudget = CHAIN_BUDGET
  private refillCursor = 0

  constructor (input: AssignInput) {
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
    this.count = new Int32Array(n)
    this.deficit = new Int32Array(n)
    this.inverseTarget = new Float64Array(n)
    for (let i = 0; i < n; i++) this.inverseTarget[i] = 1 / Math.max(1, this.target[i])
    this.failed = new Uint32Array(n)
    this.pLeaf = new Int32Array(this.nRows)
    this.triedRow = new Uint8Array(this.nRows)
    this.locked = new Uint8Array(this.parts)
    let firstLeaf = n
    while (firstLeaf > 0 && this.tree.level[firstLeaf - 1] === LEVEL_DEVICE) firstLeaf--
    this.firstLeaf = firstLeaf
    this.countCurrent(input.current)
  }

  private countCurrent (current: Int32Array): void {
    const { ancestor, level } = this.tree
    this.count.set(current)
    for (let leaf = 0; leaf < this.tree.nodeCount; leaf++) {
      if (level[leaf] !== LEVEL_DEVICE) continue
      const d = Math.max(0, this.target[leaf] - current[leaf])
      for (let l = 0; l < LEVELS; l++) this.deficit[ancestor[leaf * LEVELS + l]] += d
    }
  }

  private addCount (leaf: number, delta: number): void {
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

  private load (p: number): void {
    const { leafOfDev } = this.tree
    for (let r = 0; r < this.nRows; r++) {
      if (p >= this.rowLength[r]) { this.pLeaf[r] = -2; continue }
      const dev = this.rows[r][p]
      this.pLeaf[r] = dev < leafOfDev.length ? leafOfDev[dev] : -1
    }
  }

  /** Replicas of the loaded partition under `node` (at `level`), not counting row `skipRow`. */
  private countUnder (node: number, level: number, skipRow: number): number {
    let c = 0
    const { ancestor } = this.tree
    for (let r = 0; r < this.nRows; r++) {
      const l = this.pLeaf[r]
      if (l >= 0 && r !== skipRow && ancestor[l * LEVELS + level] === node) c++
    }
    return c
  }

  /**
   * Walks down from the root to the best eligible leaf for the loaded partition, or -1.
   * A subtree that turns out to hold no eligible leaf is marked failed (for this stamp)
   * and the walk resumes at its parent.
   */
  private pick (mode: number, skipRow: number): number {
    const { cap, ancestor, firstChild, childCount, level, parent } = this.tree
    const { failed, deficit, target, count, inverseTarget, max, pLeaf, nRows, rng } = this
    const stamp = this.stamp
    const balancing = mode === MODE_BALANCE
    let node = ROOT
    for (;;) {
      const first = firstChild[node]
      const n = childCount[node]
      const end = first + n
      const childLevel = level[node] + 1
      const tierLimited = mode !== MODE_FILL_ANY_TIER || childLevel === LEVEL_DEVICE
      // When filling, the first eligible child at least as needy as its parent will do:
      // one exists among the unblocked ones (the parent's need is their target-weighted
      // mean), a child only ever gets one replica past its parent's fill, and most walks
      // look at two or three children per level instead of all. Used for slots that held
      // no data (initial builds), where a slightly worse choice costs no movement; slots
      // whose data moves anyway get the full scan, so they land where they are needed.
      const goodEnough = mode !== MODE_FILL_FAST ? Infinity : (target[node] - count[node]) * inverseTarget[node] - 1e-12
      let best = -1
      let bestKey = -Infinity
      // A random starting child breaks ties between equally needy children.
      let c = first + rng.below(n)
      for (let k = 0; k < n; k++, c++) {
        if (c === end) c = first
        if (failed[c] === stamp || cap[c] === 0) continue
        let key: number
        if (balancing) {
          if (deficit[c] <= 0) continue
          key = deficit[c] * inverseTarget[c]
        } else {
          key = (target[c] - count[c]) * inverseTarget[c]
        }
        if (key <= bestKey) continue
        if (tierLimited) {
          // Replicas of the partition already under c (its max is 1 at device level).
          let under = 0
          for (let r = 0; r < nRows; r++) {
            const l = pLeaf[r]
            if (l >= 0 && r !== skipRow && ancestor[l * LEVELS + childLevel] === c) under++
          }
          if (under >= max[c]) continue
        }
        best = c
        bestKey = key
        if (key >= goodEnough) break
      }
      if (best >= 0) {
        if (childLevel === LEVEL_DEVICE) return best
        node = best
      } else {
        if (node === ROOT) return -1
        failed[node] = stamp
        node = parent[node]
      }
    }
  }

  /**
   * Scans every device for the loaded partition and returns the eligible one furthest
   * below its target (ties: the one whose ip, then zone, then region is furthest below
   * target), or -1. Unlike the walk from the root, a tier is judged by the device the
   * partition can actually use in it. Costs one pass over the devices.
   */
  private pickExact (skipRow: number): number {
    const { cap, ancestor, nodeCount } = this.tree
    const { target, count, inverseTarget, max, pLeaf, nRows, firstLeaf } = this
    const n = nodeCount - firstLeaf
    const need = (node: number): number => (target[node] - count[node]) * inverseTarget[node]
    let best = -1
    let bestKey = -Infinity
    let leaf = firstLeaf + this.rng.below(n)
    for (let k = 0; k < n; k++, leaf++) {
      if (leaf === nodeCount) leaf = firstLeaf
      if (cap[leaf] === 0) continue
      const key = need(leaf)
      if (key < bestKey) continue
      const base = leaf * LEVELS
      if (key === bestKey) {
        const other = best * LEVELS
        let better = false
        for (let l = LEVEL_IP; l >= LEVEL_REGION; l--) {
          const mine = need(ancestor[base + l])
          const theirs = need(ancestor[other + l])
          if (mine !== theirs) { better = mine > theirs; break }
        }
        if (!better) continue
      }
      let eligible = true
      for (let l = LEVEL_REGION; l <= LEVEL_DEVICE && eligible; l++) {
        const node = ancestor[base + l]
        let under = 0
        for (let r = 0; r < nRows; r++) {
          const other = pLeaf[r]
          if (other >= 0 && r !== skipRow && ancestor[other * LEVELS + l] === node) under++
        }
        if (under >= (l === LEVEL_DEVICE ? 1 : max[node])) eligible = false
      }
      if (!eligible) continue
      best = leaf
      bestKey = key
    }
    this.exactBudget -= n
    return best
  }

  private place (p: number, r: number, leaf: number): void {
    const previousDev = this.rows[r][p]
    const old = this.pLeaf[r]
    if (old >= 0) this.addCount(old, -1)
    this.rows[r][p] = this.tree.devOfLeaf[leaf]
    this.pLeaf[r] = leaf
    this.addCount(leaf, 1)
    if (previousDev !== NO_DEVICE && this.previous[r][p] !== NO_DEVICE) this.locked[p] = 1
  }

  /** Empties row r of the loaded partition; the replica's data is now in flight. */
  private vacate (p: number, r: number): void {
    const old = this.pLeaf[r]
    if (old >= 0) this.addCount(old, -1)
    if (this.previous[r][p] !== NO_DEVICE) this.locked[p] = 1
    this.rows[r][p] = NO_DEVICE
    this.pLeaf[r] = -1
  }

  /** Surplus of a leaf relative to its target: how urgently it should give a replica away. */
  private surplusKey (leaf: number): number {
    return (this.count[leaf] - this.target[leaf]) * this.inverseTarget[leaf]
  }

  /** Row of the loaded partition on a device of weight 0 (being drained), or -1. */
  private drainVictim (): number {
    for (let r = 0; r < this.nRows; r++) {
      const l = this.pLeaf[r]
      if (l >= 0 && this.tree.cap[l] === 0) return r
    }
    return -1
  }

  /** Row of the loaded partition to give up to fix a tier over its max, or -1. */
  private dispersionVictim (): number {
    const { ancestor } = this.tree
    for (let level = LEVEL_REGION; level <= LEVEL_IP; level++) {
      for (let r = 0; r < this.nRows; r++) {
        const l = this.pLeaf[r]
        if (l < 0) continue
        const node = ancestor[l * LEVELS + level]
        if (this.countUnder(node, level, -1) <= this.max[node]) continue
        let victim = -1
        let victimKey = -Infinity
        for (let r2 = 0; r2 < this.nRows; r2++) {
          const l2 = this.pLeaf[r2]
          if (l2 < 0 || ancestor[l2 * LEVELS + level] !== node) continue
          const key = this.surplusKey(l2)
          if (key > victimKey) { victim = r2; victimKey = key }
        }
        return victim
      }
    }
    return -1
  }

  private repair (p: number): void {
    this.load(p)
    for (let r = 0; r < this.nRows; r++) {
      if (this.pLeaf[r] === -1 && this.rows[r][p] !== NO_DEVICE) this.vacate(p, r)
    }
    for (let r = 1; r < this.nRows; r++) {
      const l = this.pLeaf[r]
      if (l < 0) continue
      for (let r2 = 0; r2 < r; r2++) if (this.pLeaf[r2] === l) { this.vacate(p, r); break }
    }
    if (this.locked[p] === 0 && this.movable[p] === 1) {
      const victim = this.drainVictim()
      if (victim >= 0) this.vacate(p, victim)
      else {
        const crowded = this.dispersionVictim()
        if (crowded >= 0) this.vacate(p, crowded)
      }
    }
    for (let r = 0; r < this.nRows; r++) {
      if (this.pLeaf[r] !== -1) continue
      this.stamp++
      let leaf: number
      if (this.previous[r][p] === NO_DEVICE) leaf = this.pick(MODE_FILL_FAST, -1)
      else if (this.exactBudget > 0) leaf = this.pickExact(-1)
      else leaf = this.pick(MODE_FILL, -1)
      if (leaf < 0) { this.stamp++; leaf = this.pick(MODE_FILL_ANY_TIER, -1) }
      if (leaf < 0) throw new RingBuildError('too-many-replicas', `partition ${p}: no device left to hold replica ${r}`)
      this.place(p, r, leaf)
    }
  }

  /** Tries to move one replica of partition p from a device above target to one below. */
  private balance (p: number): boolean {
    this.load(p)
    this.triedRow.fill(0)
    for (;;) {
      let donorRow = -1
      let donorKey = -Infinity
      for (let r = 0; r < this.nRows; r++) {
        const l = this.pLeaf[r]
        if (l < 0 || this.triedRow[r] === 1 || this.count[l] <= this.target[l]) continue
        const key = this.surplusKey(l)
        if (key > donorKey) { donorRow = r; donorKey = key }
      }
      if (donorRow < 0) return false
      this.triedRow[donorRow] = 1
      this.stamp++
      const leaf = this.pick(MODE_BALANCE, donorRow)
      if (leaf >= 0) { this.place(p, donorRow, leaf); return true }
    }
  }

  /** One pass of direct balance moves over the movable partitions; returns how many moved. */
  private balancePass (start: number): number {
    const mask = this.parts - 1
    let moved = 0
    for (let k = 0; k < this.parts && this.deficit[ROOT] > 0; k++) {
      const p = (start + k) & mask
      if (this.locked[p] === 1 || this.movable[p] === 0) continue
      if (this.balance(p)) moved++
    }
    return moved
  }

  /** Whether `leaf` may take the loaded partition's replica of row `skipRow`. */
  private canTake (leaf: number, skipRow: number): boolean {
    const { ancestor, cap } = this.tree
    if (cap[leaf] === 0) return false
    for (let l = LEVEL_REGION; l <= LEVEL_DEVICE; l++) {
      const node = ancestor[leaf * LEVELS + l]
      let under = 0
      for (let r = 0; r < this.nRows; r++) {
        const other = this.pLeaf[r]
        if (other >= 0 && r !== skipRow && ancestor[other * LEVELS + l] === node) under++
      }
      if (under >= (l === LEVEL_DEVICE ? 1 : this.max[node])) return false
    }
    return true
  }

  /** Moves a replica from some device above target onto `leaf`, from any partition but `exclude`. */
  private refill (leaf: number, exclude: number): boolean {
    const mask = this.parts - 1
    for (let k = 0; k < this.parts && this.chainBudget > 0; k++, this.chainBudget--) {
      const p = (this.refillCursor + k) & mask
      if (p === exclude || this.locked[p] === 1 || this.movable[p] === 0) continue
      this.load(p)
      for (let r = 0; r < this.nRows; r++) {
        const l = this.pLeaf[r]
        if (l < 0 || this.count[l] <= this.target[l] || !this.canTake(leaf, r)) continue
        this.place(p, r, leaf)
        this.refillCursor = (p + 1) & mask
        return true
      }
    }
    return false
  }

  /**
   * A two-move chain through partition p, for when no direct move is left: a replica of
   * p leaves a device x that is at target for a device below target, and x is refilled
   * from a device above target. Undone when x cannot be refilled, so no move is wasted.
   */
  private chain (p: number): boolean {
    this.load(p)
    for (let r = 0; r < this.nRows; r++) {
      const x = this.pLeaf[r]
      if (x < 0 || this.count[x] < this.target[x]) continue
      this.stamp++
      const u = this.pick(MODE_BALANCE, r)
      if (u < 0) continue
      const dev = this.rows[r][p]
      const wasLocked = this.locked[p]
      this.place(p, r, u)
      if (this.count[x] >= this.target[x] || this.refill(x, p)) return true
      this.rows[r][p] = dev
      this.addCount(u, -1)
      this.addCount(x, 1)
      this.locked[p] = wasLocked
      this.load(p)
    }
    return false
  }

  private chainPass (start: number): number {
    const mask = this.parts - 1
    let chains = 0
    for (let k = 0; k < this.parts && this.deficit[ROOT] > 0 && this.chainBudget > 0; k++, this.chainBudget--) {
      const p = (start + k) & mask
      if (this.locked[p] === 1 || this.movable[p] === 0) continue
      if (this.chain(p)) chains++
    }
    return chains
  }

  /** Partition-replicas per device id (ids without a tree leaf hold none after run). */
  deviceCounts (deviceSlots: number): Int32Array {
    const out = new Int32Array(deviceSlots)
    for (let node = 0; node < this.tree.nodeCount; node++) {
      const dev = this.tree.devOfLeaf[node]
      if (dev >= 0) out[dev] = this.count[node]
    }
    return out
  }

  /**
   * Visits partitions from a seeded random start, wrapping around. Sequential order
   * keeps the row reads cache-friendly; partition numbers are hash ranges, so which
   * ones move carries no meaning beyond the seed.
   */
  run (start: number): void {
    const parts = this.parts
    const mask = parts - 1
    for (let k = 0; k < parts; k++) this.repair((start + k) & mask)
    // Direct moves first. When they stall with devices still short (the partitions they
    // could take are blocked by dispersion), two-move chains through a device at target.
    for (let round = 0; round < BALANCE_ROUNDS && this.deficit[ROOT] > 0; round++) {
      this.balancePass(start)
      if (this.deficit[ROOT] === 0 || this.chainPass(start) === 0) break
    }
  }
}
