// One gossipsub topic: subscribe, publish bytes, validate inbound messages and hand
// accepted ones (with their signer) to a listener.
//
// The validator runs inside gossipsub before a message is forwarded, so a
// rejected message is neither delivered nor propagated, and its sender's score
// drops. It must never throw: an exception there would surface inside gossipsub.
import { TopicValidatorResult, type GossipSub, type Message } from '@libp2p/gossipsub'
import type { PeerId } from '@libp2p/interface'

export type GossipVerdict = 'accept' | 'reject' | 'ignore'

/** Application check on a message's bytes; `from` is the signer (the origin, not the forwarder). */
export type GossipValidator = (bytes: Uint8Array, from: PeerId) => GossipVerdict | Promise<GossipVerdict>

export type GossipListener = (bytes: Uint8Array, from: PeerId) => void

export interface GossipTopicOptions {
  /** Messages larger than this are rejected before the validator sees them (default 64 KiB). */
  maxMessageBytes?: number
  validate?: GossipValidator
  /** Called when the validator or a listener throws (default: ignore). */
  onError?: (err: unknown, where: 'validator' | 'listener') => void
}

export interface GossipTopicStats {
  published: number
  accepted: number
  rejected: number
  ignored: number
  oversize: number
  unsigned: number
  validatorErrors: number
  listenerErrors: number
}

export interface GossipTopic {
  readonly topic: string
  readonly stats: Readonly<GossipTopicStats>
  /**
   * Publishes to the topic; resolves to the peers (as strings) it was written to.
   * A subscribed peer gossipsub has no outbound stream to yet is not among them:
   * gossipsub drops the message for it silently.
   */
  publish: (bytes: Uint8Array) => Promise<string[]>
  /** Adds a listener for accepted messages; returns a function that removes it. */
  onMessage: (listener: GossipListener) => () => void
  /** Peers currently known to be subscribed (not only the mesh). */
  subscribers: () => PeerId[]
  close: () => void
}

export const DEFAULT_MAX_GOSSIP_BYTES = 64 * 1024

const VERDICT: Record<GossipVerdict, TopicValidatorResult> = {
  accept: TopicValidatorResult.Accept,
  reject: TopicValidatorResult.Reject,
  ignore: TopicValidatorResult.Ignore
}

export function openGossipTopic (pubsub: GossipSub, topic: string, opts: GossipTopicOptions = {}): GossipTopic {
  const maxBytes = opts.maxMessageBytes ?? DEFAULT_MAX_GOSSIP_BYTES
  const stats: GossipTopicStats = { published: 0, accepted: 0, rejected: 0, ignored: 0, oversize: 0, unsigned: 0, validatorErrors: 0, listenerErrors: 0 }
  const listeners = new Set<GossipListener>()
  const report = (err: unknown, where: 'validator' | 'listener'): void => {
    try { opts.onError?.(err, where) } catch { /* a broken reporter must not break gossip */ }
  }

  const judge = async (message: Message): Promise<GossipVerdict> => {
    if (message.type !== 'signed') { stats.unsigned++; return 'reject' }
    if (message.data.byteLength > maxBytes) { stats.oversize++; return 'reject' }
    if (opts.validate == null) return 'accept'
    try {
      const verdict = await opts.validate(message.data, message.from)
      if (verdict === 'accept' || verdict === 'reject' || verdict === 'ignore') return verdict
      stats.validatorErrors++
      return 'reject'
    } catch (err) {
      stats.validatorErrors++
      report(err, 'validator')
      // A failing check says nothing about the message; do not punish its sender.
      return 'ignore'
    }
  }

  pubsub.topicValidators.set(topic, async (_propagator, message) => {
    const verdict = await judge(message).catch(() => 'ignore' as const)
    if (verdict === 'reject') stats.rejected++
    else if (verdict === 'ignore') stats.ignored++
    return VERDICT[verdict]
  })

  const onMessage = (evt: CustomEvent<Message>): void => {
    const message = evt.detail
    // Validators ran already; the type check narrows to SignedMessage.
    if (message.topic !== topic || message.type !== 'signed') return
    stats.accepted++
    for (const listener of listeners) {
      try { listener(message.data, message.from) } catch (err) { stats.listenerErrors++; report(err, 'listener') }
    }
  }
  pubsub.addEventListener('message', onMessage)
  pubsub.subscribe(topic)

  let closed = false
  return {
    topic,
    stats,
    publish: async (bytes) => {
      if (closed) throw new Error(`gossip topic ${topic} is closed`)
      if (bytes.byteLength > maxBytes) throw new RangeError(`gossip message of ${bytes.byteLength} bytes exceeds ${maxBytes}`)
      const result = await pubsub.publish(topic, bytes)
      stats.published++
      return result.recipients.map(p => p.toString())
    },
    onMessage: (listener) => {
      listeners.add(listener)
      return () => { listeners.delete(listener) }
    },
    subscribers: () => pubsub.getSubscribers(topic),
    close: () => {
      if (closed) return
      closed = true
      pubsub.removeEventListener('message', onMessage)
      pubsub.topicValidators.delete(topic)
      pubsub.unsubscribe(topic)
      listeners.clear()
    }
  }
}
