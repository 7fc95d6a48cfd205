// The placement engine. It works on the replica rows in place and makes two passes
// over the partitions, from a seeded random start:
//
// 1. Repair: empty slots and slots of removed devices are (re)filled; a partition
//    that holds two replicas on one device, a replica on a device of weight 0, or more
//    replicas in a tier node than the plan's max, gives one replica up, which is
//    re-placed at once on the eligible device furthest below its target (eligible: the
//    partition would not exceed any tier node's max there).
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
import { LEVELS, LEVEL_IP, LEVEL_REGION, ROOT } from './placement-tree.js'
import { MODE_BALANCE, MODE_FILL, MODE_FILL_ANY_TIER, MODE_FILL_FAST, pickByWalk, pickExact } from './placement-pick.js'
import { NO_DEVICE, PlacementState, type PlacementInput } from './placement-state.js'

export { NO_DEVICE } from './placement-state.js'
export type { PlacementInput as AssignInput } from './placement-state.js'

/**
 * Device visits allowed for exact placement of replicas that move data; past it the
 * walk from the root takes over, so mass moves (say, a new zone forcing a replica out
 * of a third of the partitions) stay linear in partitions.
 */
const EXACT_PLACEMENT_BUDGET = 50_000_000
/** Rounds of direct + chain passes at most; a round that finds no chain ends them. */
const BALANCE_ROUNDS = 16
/** Partition visits allowed for chain searches, so a ring that cannot balance costs bounded time. */
const CHAIN_BUDGET = 4_000_000

export class Placer {
  private readonly s: PlacementState
  /** Rows of the loaded partition already tried as donors. */
  private readonly triedRow: Uint8Array
  private exactBudget = EXACT_PLACEMENT_BUDGET
  private chainBudget = CHAIN_BUDGET
  private refillCursor = 0

  constructor (input: PlacementInput) {
    this.s = new PlacementState(input)
    this.triedRow = new Uint8Array(this.s.nRows)
  }

  deviceCounts (deviceSlots: number): Int32Array {
    return this.s.deviceCounts(deviceSlots)
  }

  /** Row of the loaded partition on a device of weight 0 (being drained), or -1. */
  private drainVictim (): number {
    const s = this.s
    for (let r = 0; r < s.nRows; r++) {
      const l = s.pLeaf[r]
      if (l >= 0 && s.tree.cap[l] === 0) return r
    }
    return -1
  }

  /** Row of the loaded partition to give up to fix a tier over its max, or -1. */
  private dispersionVictim (): number {
    const s = this.s
    const { ancestor } = s.tree
    for (let level = LEVEL_REGION; level <= LEVEL_IP; level++) {
      for (let r = 0; r < s.nRows; r++) {
        const l = s.pLeaf[r]
        if (l < 0) continue
        const node = ancestor[l * LEVELS + level]
        if (s.countUnder(node, level, -1) <= s.max[node]) continue
        let victim = -1
        let victimKey = -Infinity
        for (let r2 = 0; r2 < s.nRows; r2++) {
          const l2 = s.pLeaf[r2]
          if (l2 < 0 || ancestor[l2 * LEVELS + level] !== node) continue
          const key = s.surplusKey(l2)
          if (key > victimKey) { victim = r2; victimKey = key }
        }
        return victim
      }
    }
    return -1
  }

  private repair (p: number): void {
    const s = this.s
    s.load(p)
    for (let r = 0; r < s.nRows; r++) {
      if (s.pLeaf[r] === -1 && s.rows[r][p] !== NO_DEVICE) s.vacate(p, r)
    }
    for (let r = 1; r < s.nRows; r++) {
      const l = s.pLeaf[r]
      if (l < 0) continue
      for (let r2 = 0; r2 < r; r2++) if (s.pLeaf[r2] === l) { s.vacate(p, r); break }
    }
    if (s.locked[p] === 0 && s.movable[p] === 1) {
      const victim = this.drainVictim()
      if (victim >= 0) s.vacate(p, victim)
      else {
        const crowded = this.dispersionVictim()
        if (crowded >= 0) s.vacate(p, crowded)
      }
    }
    for (let r = 0; r < s.nRows; r++) {
      if (s.pLeaf[r] !== -1) continue
      s.stamp++
      let leaf: number
      if (s.previous[r][p] === NO_DEVICE) {
        leaf = pickByWalk(s, MODE_FILL_FAST, -1)
      } else if (this.exactBudget > 0) {
        leaf = pickExact(s, -1)
        this.exactBudget -= s.tree.nodeCount - s.firstLeaf
      } else {
        leaf = pickByWalk(s, MODE_FILL, -1)
      }
      if (leaf < 0) { s.stamp++; leaf = pickByWalk(s, MODE_FILL_ANY_TIER, -1) }
      if (leaf < 0) throw new RingBuildError('too-many-replicas', `partition ${p}: no device left to hold replica ${r}`)
      s.place(p, r, leaf)
    }
  }

  /** Tries to move one replica of partition p from a device above target to one below. */
  private balance (p: number): boolean {
    const s = this.s
    s.load(p)
    this.triedRow.fill(0)
    for (;;) {
      let donorRow = -1
      let donorKey = -Infinity
      for (let r = 0; r < s.nRows; r++) {
        const l = s.pLeaf[r]
        if (l < 0 || this.triedRow[r] === 1 || s.count[l] <= s.target[l]) continue
        const key = s.surplusKey(l)
        if (key > donorKey) { donorRow = r; donorKey = key }
      }
      if (donorRow < 0) return false
      this.triedRow[donorRow] = 1
      s.stamp++
      const leaf = pickByWalk(s, MODE_BALANCE, donorRow)
      if (leaf >= 0) { s.place(p, donorRow, leaf); return true }
    }
  }

  /** One pass of direct balance moves over the movable partitions; returns how many moved. */
  private balancePass (start: number): number {
    const s = this.s
    const mask = s.parts - 1
    let moved = 0
    for (let k = 0; k < s.parts && s.deficit[ROOT] > 0; k++) {
      const p = (start + k) & mask
      if (s.locked[p] === 1 || s.movable[p] === 0) continue
      if (this.balance(p)) moved++
    }
    return moved
  }

  /** Moves a replica from some device above target onto `leaf`, from any partition but `exclude`. */
  private refill (leaf: number, exclude: number): boolean {
    const s = this.s
    const mask = s.parts - 1
    for (let k = 0; k < s.parts && this.chainBudget > 0; k++, this.chainBudget--) {
      const p = (this.refillCursor + k) & mask
      if (p === exclude || s.locked[p] === 1 || s.movable[p] === 0) continue
      s.load(p)
      for (let r = 0; r < s.nRows; r++) {
        const l = s.pLeaf[r]
        if (l < 0 || s.count[l] <= s.target[l] || !s.canTake(leaf, r)) continue
        s.place(p, r, leaf)
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
    const s = this.s
    s.load(p)
    for (let r = 0; r < s.nRows; r++) {
      const x = s.pLeaf[r]
      if (x < 0 || s.count[x] < s.target[x]) continue
      s.stamp++
      const u = pickByWalk(s, MODE_BALANCE, r)
      if (u < 0) continue
      const dev = s.rows[r][p]
      const wasLocked = s.locked[p]
      s.place(p, r, u)
      if (s.count[x] >= s.target[x] || this.refill(x, p)) return true
      s.rows[r][p] = dev
      s.addCount(u, -1)
      s.addCount(x, 1)
      s.locked[p] = wasLocked
      s.load(p)
    }
    return false
  }

  private chainPass (start: number): number {
    const s = this.s
    const mask = s.parts - 1
    let chains = 0
    for (let k = 0; k < s.parts && s.deficit[ROOT] > 0 && this.chainBudget > 0; k++, this.chainBudget--) {
      const p = (start + k) & mask
      if (s.locked[p] === 1 || s.movable[p] === 0) continue
      if (this.chain(p)) chains++
    }
    return chains
  }

  /**
   * Visits partitions from a seeded random start, wrapping around. Sequential order
   * keeps the row reads cache-friendly; partition numbers are hash ranges, so which
   * ones move carries no meaning beyond the seed.
   */
  run (start: number): void {
    const s = this.s
    const mask = s.parts - 1
    for (let k = 0; k < s.parts; k++) this.repair((start + k) & mask)
    // Direct moves first. When they stall with devices still short (the partitions they
    // could take are blocked by dispersion), two-move chains through a device at target.
    for (let round = 0; round < BALANCE_ROUNDS && s.deficit[ROOT] > 0; round++) {
      this.balancePass(start)
      if (s.deficit[ROOT] === 0 || this.chainPass(start) === 0) break
    }
  }
}
