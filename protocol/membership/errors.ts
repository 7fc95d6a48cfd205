// Errors the membership core raises for caller mistakes (never for network input,
// which is dropped or answered instead).

export type MembershipErrorCode =
  | 'unknown-member' // no entry for that id
  | 'member-alive' // force-leave of a member that is alive or only suspected
  | 'self' // an operation that may not target this node (force-leave self, join self)
  | 'left' // this node has left; it no longer takes part
  | 'invalid-argument' // bad id, addrs, meta or incarnation passed in

export class MembershipError extends Error {
  constructor (readonly code: MembershipErrorCode, message: string) {
    super(message)
    this.name = 'MembershipError'
  }
}
