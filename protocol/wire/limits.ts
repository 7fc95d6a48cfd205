// Byte limits per channel, checked before any decoding.

import { MAX_MEMBERS } from '../membership/limits.js'

/** Envelope version this build speaks. */
export const WIRE_VERSION = 1

/** One gossip update (alive/suspect/dead/left); a maximal alive is ≈ 3.9 KiB (membership/limits.ts). */
export const MAX_GOSSIP_BYTES = 4096
/** Probe-stream messages: ping/ack/nack/ping-req (ping-req carries the target's addrs) and direct updates. */
export const MAX_PROBE_BYTES = 4096
/** Upper bound of one member entry in a push-pull (same fields as a maximal alive). */
export const MAX_ENTRY_BYTES = 4096
/** push-pull: MAX_MEMBERS × MAX_ENTRY_BYTES = 4096 × 4 KiB = 16 MiB; real entries are ~0.2–0.5 KiB. */
export const MAX_SYNC_BYTES = MAX_MEMBERS * MAX_ENTRY_BYTES
/** Sequence numbers and incarnations must stay exact in a JS number. */
export const MAX_COUNTER = Number.MAX_SAFE_INTEGER
