// What the core hands to the shell. Gossipsub floods every publish through the
// mesh, so unlike memberlist there is no piggyback retransmit queue: each state
// change is published once, and push-pull catches up whatever gossip missed.
// Several changes about one member before the shell drains collapse into the
// newest, as memberlist's broadcast invalidation does.

import type { MemberEvent } from './events.js'
import type { GossipMessage, MembershipMessage } from './types.js'

export interface Outgoing {
  readonly to: string
  /** Addresses the core knows for `to` (may be empty); the shell may need them to dial. */
  readonly addrs: readonly string[]
  readonly msg: MembershipMessage
}

/** Everything the shell must do after feeding the core, in this order: persist, send/publish, events. */
export interface Ready {
  /** Present when this node's incarnation rose: write it durably BEFORE sending anything. */
  readonly persist?: { readonly incarnation: number }
  readonly send: Outgoing[]
  readonly publish: GossipMessage[]
  readonly events: MemberEvent[]
}

export class Outbox {
  private send: Outgoing[] = []
  private readonly publishById = new Map<string, GossipMessage>()
  private events: MemberEvent[] = []
  private persistIncarnation: number | undefined

  enqueueSend (to: string, addrs: readonly string[], msg: MembershipMessage): void {
    this.send.push({ to, addrs, msg })
  }

  enqueuePublish (msg: GossipMessage): void {
    // Re-inserting moves it last, so publish order follows decision order.
    this.publishById.delete(msg.id)
    this.publishById.set(msg.id, msg)
  }

  enqueueEvent (event: MemberEvent): void {
    this.events.push(event)
  }

  persist (incarnation: number): void {
    this.persistIncarnation = incarnation
  }

  isEmpty (): boolean {
    return this.send.length === 0 && this.publishById.size === 0 && this.events.length === 0 && this.persistIncarnation === undefined
  }

  drain (): Ready {
    if (this.isEmpty()) return { send: [], publish: [], events: [] }
    const ready: Ready = {
      ...(this.persistIncarnation !== undefined ? { persist: { incarnation: this.persistIncarnation } } : {}),
      send: this.send,
      publish: [...this.publishById.values()], // copied before clear() below
      events: this.events
    }
    this.send = []
    this.publishById.clear()
    this.events = []
    this.persistIncarnation = undefined
    return ready
  }
}
