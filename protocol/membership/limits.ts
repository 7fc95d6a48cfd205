// Size limits on what a member may advertise. They keep one gossip update under
// the 4 KiB gossip message limit (protocol/wire/limits.ts):
//   128 (id) + 128 (from) + 8 × 192 (addrs) + 2048 (meta) + CBOR framing (< 150) ≈ 3.9 KiB.

/** PeerId strings are ~52 characters (Ed25519, base58btc); 128 leaves room for other key types. */
export const MAX_ID_LENGTH = 128
/** Multiaddr strings per member. */
export const MAX_ADDRS = 8
/** Characters per multiaddr string (the core checks length, not syntax). */
export const MAX_ADDR_LENGTH = 192
/** Opaque agent metadata per member (region/zone/devices/epoch/readiness). */
export const MAX_META_BYTES = 2048
/** Members a push-pull may carry; it bounds the sync message size (see protocol/wire/limits.ts). */
export const MAX_MEMBERS = 4096
