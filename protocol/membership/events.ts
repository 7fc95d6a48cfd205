// Member events handed to the shell through ready().events, named after Serf's.

import type { MemberEntry, MemberStatus } from './types.js'

export type MemberEventKind =
  | 'join' // first seen alive, or alive again after dead/left
  | 'update' // an alive member changed addrs or meta
  | 'suspect' // alive → suspect
  | 'recover' // suspect → alive (refuted)
  | 'fail' // → dead
  | 'leave' // → left (graceful leave or force-leave)
  | 'reap' // forgotten after the reap timeout

export interface MemberEvent {
  readonly kind: MemberEventKind
  readonly member: MemberEntry
  /** Status before the change; undefined for a member seen for the first time. */
  readonly previous?: MemberStatus
  /** Clock value at which the core made the change. */
  readonly at: number
}

/** The event a status transition produces, or undefined when nothing visible changed. */
export function transitionEvent (before: MemberEntry | undefined, after: MemberEntry): MemberEventKind | undefined {
  if (before === undefined) return after.status === 'alive' ? 'join' : undefined
  if (before.status === after.status) {
    if (after.status !== 'alive') return undefined
    return sameAddrs(before.addrs, after.addrs) && sameBytes(before.meta, after.meta) ? undefined : 'update'
  }
  switch (after.status) {
    case 'alive': return before.status === 'suspect' ? 'recover' : 'join'
    case 'suspect': return 'suspect'
    case 'dead': return 'fail'
    case 'left': return 'leave'
  }
}

export function sameAddrs (a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i])
}

export function sameBytes (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
