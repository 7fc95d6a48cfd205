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
  /**
   * Send over the reliable channel (a libp2p stream), never as a datagram: the
   * fallback ping (config.fallbackPing), and an answer to a request that came that
   * way, since the datagram path between the two may be the one that is broken.
   */
  readonly reliable?: true
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

  enqueueSend (to: string, addrs: readonly string[], msg: MembershipMessage, reliable = false): void {
    this.send.push(reliable ? { to, addrs, msg, reliable } : { to, addrs, msg })
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

/**
 * Whether `msg` tells its receiver this node's incarnation: our own alive/left
 * claim, or a push-pull (its snapshot holds our entry). Only these must wait until
 * `Ready.persist` is on disk; pings, acks, nacks, ping-reqs and claims about
 * others may go at once. Holding everything back behind a slow fsync (seconds on a
 * busy disk) kept a node from acking probes and got it declared dead.
 */
export function carriesOwnIncarnation (self: string, msg: MembershipMessage): boolean {
  if (msg.type === 'push-pull') return true
  return (msg.type === 'alive' || msg.type === 'left') && msg.id === self
}

/** A ready batch's messages split into those that may go now and those that wait for our incarnation to be durable. */
export function splitForDurability (self: string, r: Pick<Ready, 'send' | 'publish'>, durable: boolean): {
  now: { send: Outgoing[], publish: GossipMessage[] }
  held: { send: Outgoing[], publish: GossipMessage[] }
} {
  const out = { now: { send: [] as Outgoing[], publish: [] as GossipMessage[] }, held: { send: [] as Outgoing[], publish: [] as GossipMessage[] } }
  for (const g of r.publish) (durable || !carriesOwnIncarnation(self, g) ? out.now : out.held).publish.push(g)
  for (const o of r.send) (durable || !carriesOwnIncarnation(self, o.msg) ? out.now : out.held).send.push(o)
  return out
}
