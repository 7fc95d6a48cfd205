// Where should a replica of the loaded partition go? Two searches over the tier tree,
// both judging need relative to target and honouring each node's per-partition max.
import { LEVELS, LEVEL_DEVICE, LEVEL_IP, LEVEL_REGION, ROOT } from './placement-tree.js'
import type { PlacementState } from './placement-state.js'

export const MODE_FILL = 0 // any eligible device, furthest below target first
export const MODE_FILL_ANY_TIER = 1 // as MODE_FILL but ignoring tier maxima (last resort)
export const MODE_BALANCE = 2 // only devices below target
export const MODE_FILL_FAST = 3 // as MODE_FILL but settling for a good-enough child (slots that held no data)

/**
 * Walks down from the root to the best eligible leaf for the loaded partition, or -1.
 * A subtree that turns out to hold no eligible leaf is marked failed (for the current
 * stamp) and the walk resumes at its parent. `skipRow`'s replica counts as gone.
 */
export function pickByWalk (s: PlacementState, mode: number, skipRow: number): number {
  const { cap, ancestor, firstChild, childCount, level, parent } = s.tree
  const { failed, deficit, target, count, inverseTarget, max, pLeaf, nRows, rng } = s
  const stamp = s.stamp
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
export function pickExact (s: PlacementState, skipRow: number): number {
  const { cap, ancestor, nodeCount } = s.tree
  const { target, count, inverseTarget, firstLeaf } = s
  const n = nodeCount - firstLeaf
  const need = (node: number): number => (target[node] - count[node]) * inverseTarget[node]
  let best = -1
  let bestKey = -Infinity
  let leaf = firstLeaf + s.rng.below(n)
  for (let k = 0; k < n; k++, leaf++) {
    if (leaf === nodeCount) leaf = firstLeaf
    if (cap[leaf] === 0) continue
    const key = need(leaf)
    if (key < bestKey) continue
    if (key === bestKey) {
      const mine = leaf * LEVELS
      const theirs = best * LEVELS
      let better = false
      for (let l = LEVEL_IP; l >= LEVEL_REGION; l--) {
        const a = need(ancestor[mine + l])
        const b = need(ancestor[theirs + l])
        if (a !== b) { better = a > b; break }
      }
      if (!better) continue
    }
    if (!s.canTake(leaf, skipRow)) continue
    best = leaf
    bestKey = key
  }
  return best
}
