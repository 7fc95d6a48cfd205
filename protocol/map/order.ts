// The total order on maps and the acceptance rule. Every node keeps the greatest
// valid map it has seen; a deterministic order makes concurrent maps from two sides
// of a healed partition resolve the same way everywhere.
import { mapHash, type ClusterMap } from './map.js'
import { compareIds } from './validate.js'

/**
 * Negative when a < b, positive when a > b, 0 only for the same map.
 * Greater means: higher epoch; at equal epoch the LOWER coordinator id (the rightful
 * coordinator of the merged cluster); then the greater hash, an arbitrary but
 * shared tie-break for two different maps from one coordinator.
 */
export function compareMaps (a: ClusterMap, b: ClusterMap): number {
  if (a.epoch !== b.epoch) return a.epoch < b.epoch ? -1 : 1
  const byCoordinator = compareIds(a.coordinator, b.coordinator)
  if (byCoordinator !== 0) return -byCoordinator
  const ha = mapHash(a)
  const hb = mapHash(b)
  return ha < hb ? -1 : ha > hb ? 1 : 0
}

/** `next` directly extends `prev`: one epoch later and chained to its hash. */
export function isSuccessor (next: ClusterMap, prev: ClusterMap): boolean {
  return next.epoch === prev.epoch + 1 && next.prev === mapHash(prev)
}

export type RejectReason =
  | 'signer-not-coordinator' // signed by someone other than the coordinator it names
  | 'unknown-signer' // the coordinator is not a member we know
  | 'not-newer' // not greater than the map we hold (includes the same map again)
  | 'bad-prev' // its prev hash names a map that is not at epoch − 1

export type AcceptVerdict =
  | { accept: true }
  | { accept: false, reason: RejectReason }
  /** Its predecessor is unknown: fetch the map `missing` (a blob CID) and retry. */
  | { accept: false, catchUp: true, missing: string }

export interface AcceptContext {
  /** PeerId string of the gossipsub message signer (StrictSign verified it). */
  signer: string
  isKnownMember: (id: string) => boolean
  /** A map this node has seen and validated, by mapHash. */
  known: (hash: string) => ClusterMap | undefined
}

/**
 * Decides what to do with a received, already decoded map.
 * - A node with no map yet accepts any properly signed map (trust on first use): a
 *   joining node cannot walk the chain back to epoch 1, and need not.
 * - Otherwise the candidate must be greater than `current` and chain onto a map we
 *   know; an unknown predecessor means we missed epochs and must catch up first.
 *   The predecessor need not be `current`: a sibling epoch from the other side of a
 *   partition may have been replaced by the winner.
 */
export function acceptMap (current: ClusterMap | undefined, candidate: ClusterMap, ctx: AcceptContext): AcceptVerdict {
  if (ctx.signer !== candidate.coordinator) return { accept: false, reason: 'signer-not-coordinator' }
  if (!ctx.isKnownMember(ctx.signer)) return { accept: false, reason: 'unknown-signer' }
  if (current === undefined) return { accept: true }
  if (compareMaps(candidate, current) <= 0) return { accept: false, reason: 'not-newer' }
  if (candidate.prev === null) return { accept: true } // epoch 1 has no chain (and current < 1 is impossible here)
  if (current.epoch === candidate.epoch - 1 && mapHash(current) === candidate.prev) return { accept: true }
  const prev = ctx.known(candidate.prev)
  if (prev === undefined) return { accept: false, catchUp: true, missing: candidate.prev }
  if (!isSuccessor(candidate, prev)) return { accept: false, reason: 'bad-prev' }
  return { accept: true }
}
