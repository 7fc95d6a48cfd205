// Who coordinates: the lowest id among members that are alive and ready (they hold
// the current map and its blobs), so a new low-id node takes over only once synced.
import { compareIds } from './validate.js'

export type MemberStatus = 'alive' | 'suspect' | 'dead' | 'left'

export interface CoordinatorCandidate {
  id: string
  status: MemberStatus
  ready: boolean
  /** The map epoch the member has installed (from its NodeMeta); used only at bootstrap. */
  epoch?: number
}

export interface CoordinatorChoice {
  id: string
  /**
   * 'ready': the normal rule. 'bootstrap': no alive member is ready — a brand-new
   * cluster where nobody holds a map yet, or every member is mid-sync at once.
   */
  rule: 'ready' | 'bootstrap'
}

/**
 * The normal rule is the lowest alive+ready id. When no alive member is ready, the
 * alive members holding the highest installed epoch (missing epoch counts as 0) are
 * the ones with the most state, and the lowest id among them leads; in a new cluster
 * that is simply the lowest alive id, which then publishes epoch 1. Suspect, dead and
 * left members never coordinate. Undefined when nobody is alive.
 */
export function coordinatorChoice (members: readonly CoordinatorCandidate[]): CoordinatorChoice | undefined {
  let ready: string | undefined
  for (const m of members) {
    if (m.status === 'alive' && m.ready && (ready === undefined || compareIds(m.id, ready) < 0)) ready = m.id
  }
  if (ready !== undefined) return { id: ready, rule: 'ready' }
  let best: CoordinatorCandidate | undefined
  for (const m of members) {
    if (m.status !== 'alive') continue
    const epoch = m.epoch ?? 0
    const bestEpoch = best?.epoch ?? 0
    if (best === undefined || epoch > bestEpoch || (epoch === bestEpoch && compareIds(m.id, best.id) < 0)) best = m
  }
  return best === undefined ? undefined : { id: best.id, rule: 'bootstrap' }
}

export function chooseCoordinator (members: readonly CoordinatorCandidate[]): string | undefined {
  return coordinatorChoice(members)?.id
}
