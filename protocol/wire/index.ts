// Wire codec: versioned CBOR envelope, per-channel size limits, schema checks.
export { WireError, type WireErrorCode } from './errors.js'
export * from './limits.js'
export { encodeEnvelope, decodeEnvelope, type Envelope } from './envelope.js'
export {
  encodeMembershipMessage, decodeMembershipMessage, decodeGossip, channelOf, CHANNEL_LIMITS, type MembershipChannel
} from './membership-codec.js'
