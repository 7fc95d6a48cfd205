// Checks a node's own description (from the shell, i.e. from CLI/config) against
// the same limits the wire codec enforces on everyone else's.

import { MembershipError } from './errors.js'
import { MAX_ADDR_LENGTH, MAX_ADDRS, MAX_ID_LENGTH, MAX_META_BYTES } from './limits.js'
import type { SelfDescription } from './types.js'

export function checkSelfDescription (self: SelfDescription): void {
  if (typeof self.id !== 'string' || self.id.length === 0 || self.id.length > MAX_ID_LENGTH) {
    throw new MembershipError('invalid-argument', `id must be a string of 1..${MAX_ID_LENGTH} characters`)
  }
  if (!Array.isArray(self.addrs) || self.addrs.length > MAX_ADDRS) {
    throw new MembershipError('invalid-argument', `addrs must be an array of at most ${MAX_ADDRS} strings`)
  }
  for (const a of self.addrs) {
    if (typeof a !== 'string' || a.length === 0 || a.length > MAX_ADDR_LENGTH) {
      throw new MembershipError('invalid-argument', `each addr must be a string of 1..${MAX_ADDR_LENGTH} characters`)
    }
  }
  if (!(self.meta instanceof Uint8Array) || self.meta.length > MAX_META_BYTES) {
    throw new MembershipError('invalid-argument', `meta must be a Uint8Array of at most ${MAX_META_BYTES} bytes`)
  }
}
