// Membership messages on the wire. Three channels, each with its own byte limit
// and the message types it may carry:
//   gossip (membership topic):            alive | suspect | dead | left        ≤ 4 KiB
//   probe  (/ringleader/probe/1.0.0):     ping | ack | nack | ping-req, plus
//                                         alive | suspect | dead | left sent directly ≤ 4 KiB
//   sync   (/ringleader/sync/1.0.0):      push-pull                             ≤ 16 MiB
// Body = the message without its `type` (the type travels in the envelope).

import { MAX_ADDR_LENGTH, MAX_ADDRS, MAX_ID_LENGTH, MAX_MEMBERS, MAX_META_BYTES } from '../membership/limits.js'
import type {
  AckMessage, GossipMessage, MemberEntry, MembershipMessage, MembershipMessageType, MemberStatus, PushPullMessage
} from '../membership/types.js'
import { decodeEnvelope, encodeEnvelope } from './envelope.js'
import { WireError } from './errors.js'
import { MAX_GOSSIP_BYTES, MAX_PROBE_BYTES, MAX_SYNC_BYTES } from './limits.js'
import {
  checkString, readArray, readBoolean, readBytes, readCounter, readObject, readString, readStrings, type Fields
} from './read.js'

export type MembershipChannel = 'gossip' | 'probe' | 'sync'

const UPDATE_TYPES = ['alive', 'suspect', 'dead', 'left'] as const
const CHANNEL_TYPES: Readonly<Record<MembershipChannel, readonly MembershipMessageType[]>> = {
  gossip: UPDATE_TYPES,
  probe: ['ping', 'ack', 'nack', 'ping-req', ...UPDATE_TYPES],
  sync: ['push-pull']
}
export const CHANNEL_LIMITS: Readonly<Record<MembershipChannel, number>> = {
  gossip: MAX_GOSSIP_BYTES,
  probe: MAX_PROBE_BYTES,
  sync: MAX_SYNC_BYTES
}
const STATUSES: readonly MemberStatus[] = ['alive', 'suspect', 'dead', 'left']
// Printable ASCII without spaces: PeerId strings (base58btc / base32) fit.
const ID_PATTERN = /^[\x21-\x7e]+$/
// membershipChecksum's output: 64-bit FNV-1a in hex.
const CHECKSUM_LENGTH = 16
const CHECKSUM_PATTERN = /^[0-9a-f]{16}$/

/** The channel a message travels on (the shell routes ready().send by it). */
export function channelOf (msg: MembershipMessage): MembershipChannel {
  return msg.type === 'push-pull' ? 'sync' : 'probe'
}

export function encodeMembershipMessage (msg: MembershipMessage): Uint8Array {
  const { type, ...body } = msg
  return encodeEnvelope(type, body)
}

/** Decodes one message received on `channel`; throws only WireError. */
export function decodeMembershipMessage (bytes: Uint8Array, channel: MembershipChannel, maxBytes = CHANNEL_LIMITS[channel]): MembershipMessage {
  const env = decodeEnvelope(bytes, maxBytes)
  const type = env.type as MembershipMessageType
  if (!CHANNEL_TYPES[channel].includes(type)) throw new WireError('unknown-type', `message type ${JSON.stringify(env.type.slice(0, 40))} not allowed on the ${channel} channel`)
  const b = env.body
  switch (type) {
    case 'ping': case 'nack':
      return { type, seq: readCounter(readObject(b, type, ['seq']), 'seq', type) }
    case 'ack':
      return readAck(b)
    case 'ping-req': {
      const o = readObject(b, type, ['seq', 'target', 'targetAddrs'])
      return { type, seq: readCounter(o, 'seq', type), target: readId(o, 'target', type), targetAddrs: readAddrs(o, 'targetAddrs', type) }
    }
    case 'alive': case 'suspect': case 'dead': case 'left':
      return readUpdate(type, b)
    case 'push-pull':
      return readPushPull(b)
  }
}

export function decodeGossip (bytes: Uint8Array): GossipMessage {
  return decodeMembershipMessage(bytes, 'gossip') as GossipMessage
}

function readId (o: Fields, key: string, field: string): string {
  const id = readString(o, key, field, MAX_ID_LENGTH)
  if (!ID_PATTERN.test(id)) throw new WireError('invalid-message', 'id must be printable ASCII without spaces', `${field}.${key}`)
  return id
}

function readAddrs (o: Fields, key: string, field: string): string[] {
  const addrs = readStrings(o, key, field, MAX_ADDRS, MAX_ADDR_LENGTH)
  addrs.forEach((a, i) => { if (!a.startsWith('/')) throw new WireError('invalid-message', 'a multiaddr starts with "/"', `${field}.${key}[${i}]`) })
  return addrs
}

function readAck (b: unknown): AckMessage {
  const o = readObject(b, 'ack', ['seq', 'sum'])
  const seq = readCounter(o, 'seq', 'ack')
  if (o.sum === undefined) return { type: 'ack', seq }
  const sum = readString(o, 'sum', 'ack', CHECKSUM_LENGTH)
  if (!CHECKSUM_PATTERN.test(sum)) throw new WireError('invalid-message', `a membership checksum is ${CHECKSUM_LENGTH} lowercase hex digits`, 'ack.sum')
  return { type: 'ack', seq, sum }
}

function readUpdate (type: GossipMessage['type'], b: unknown): GossipMessage {
  if (type === 'alive') {
    const o = readObject(b, type, ['id', 'incarnation', 'addrs', 'meta', 'from'])
    return {
      type,
      id: readId(o, 'id', type),
      incarnation: readCounter(o, 'incarnation', type),
      addrs: readAddrs(o, 'addrs', type),
      meta: readBytes(o, 'meta', type, MAX_META_BYTES),
      from: readId(o, 'from', type)
    }
  }
  const o = readObject(b, type, ['id', 'incarnation', 'from'])
  return { type, id: readId(o, 'id', type), incarnation: readCounter(o, 'incarnation', type), from: readId(o, 'from', type) }
}

function readPushPull (b: unknown): PushPullMessage {
  const o = readObject(b, 'push-pull', ['seq', 'join', 'reply', 'entries'])
  const raw = readArray(o, 'entries', 'push-pull', MAX_MEMBERS)
  const seen = new Set<string>()
  const entries = raw.map((r, i): MemberEntry => {
    const field = `push-pull.entries[${i}]`
    const e = readObject(r, field, ['id', 'incarnation', 'status', 'addrs', 'meta'])
    const status = checkString(e.status, `${field}.status`, 8) as MemberStatus
    if (!STATUSES.includes(status)) throw new WireError('invalid-message', 'unknown status', `${field}.status`)
    const id = readId(e, 'id', field)
    if (seen.has(id)) throw new WireError('invalid-message', 'duplicate member id', `${field}.id`)
    seen.add(id)
    return { id, incarnation: readCounter(e, 'incarnation', field), status, addrs: readAddrs(e, 'addrs', field), meta: readBytes(e, 'meta', field, MAX_META_BYTES) }
  })
  return { type: 'push-pull', seq: readCounter(o, 'seq', 'push-pull'), join: readBoolean(o, 'join', 'push-pull'), reply: readBoolean(o, 'reply', 'push-pull'), entries }
}
