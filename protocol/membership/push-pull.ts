// Anti-entropy helpers: full-state exchange with one member, at join time, every
// pushPullPeriod(n) (jittered), and with a random dead member every
// deadReconnectInterval so long partitions heal.
//
// Merging a remote view follows memberlist: a remote `dead` for a member we still
// believe alive or suspect becomes a `suspect` here (accused by the peer), so the
// member is told and can refute instead of being declared dead second-hand.

import type { MemberEntry, MemberStatus, PushPullMessage } from './types.js'

export function pushPullMessage (seq: number, join: boolean, reply: boolean, entries: MemberEntry[]): PushPullMessage {
  return { type: 'push-pull', seq, join, reply, entries }
}

/** The status we adopt from a remote entry, given what we hold locally. */
export function remoteStatus (remote: MemberStatus, local: MemberEntry | undefined): MemberStatus {
  if (remote === 'dead' && local !== undefined && (local.status === 'alive' || local.status === 'suspect')) return 'suspect'
  return remote
}

/** period × uniform[0.5, 1.5): spreads periodic exchanges so nodes do not synchronise. */
export function jittered (period: number, random: () => number): number {
  return period * (0.5 + random())
}
