// Public surface of the membership core: types plus the createMembership factory.

import { Membership, type MembershipOptions } from './membership.js'

export { Membership, type MembershipOptions } from './membership.js'
export { carriesOwnIncarnation, splitForDurability, type Ready, type Outgoing } from './broadcast.js'
export { IncarnationReserve, DEFAULT_INCARNATION_BLOCK, planDurability } from './incarnation-reserve.js'
export type { MemberEvent, MemberEventKind } from './events.js'
export type { StatusCounts } from './state.js'
export { supersedes } from './state.js'
export {
  DEFAULT_CONFIG, ConfigError, resolveConfig, suspicionMinTimeout, suspicionConfirmationsFor, suspicionCrowdStretch, pushPullPeriod,
  type MembershipConfig, type ResolvedConfig
} from './config.js'
export { MembershipError, type MembershipErrorCode } from './errors.js'
export { liveDigest, membershipChecksum } from './checksum.js'
export { suspicionTimeout } from './suspicion.js'
export * from './limits.js'
export * from './types.js'

/** Creates a membership core. Drain `ready()` right away: it holds the incarnation to persist and our first `alive`. */
export function createMembership (opts: MembershipOptions): Membership {
  return new Membership(opts)
}
