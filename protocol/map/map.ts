// The cluster map: epoch-numbered, hash-chained, content-addressed. Its canonical
// encoding is cbor with keys inserted in sorted order and members sorted, so two
// nodes that build the same map byte-for-byte agree on its hash (its CID).
import { Encoder } from 'cbor-x'
import { blobCid } from './blob-cid.js'
import { MAX_MAP_BYTES, MapError, validateMap } from './validate.js'

export interface RingEntry {
  /** CID of the `<name>.ring.gz` archive. */
  cid: string
  /** CID of the builder-state blob the next coordinator continues from. */
  builderCid: string
  partPower: number
  replicas: number
  minPartHours: number
  overload: number
  /** Byte size of the ring archive, a hint for fetchers. */
  size?: number
}

export interface ClusterMap {
  version: 1
  epoch: number
  /** PeerId string of the coordinator that built (and signed) this map. */
  coordinator: string
  /** mapHash of the map at epoch − 1; null only at epoch 1. */
  prev: string | null
  rings: Record<string, RingEntry>
  /** Sorted ids of the members this map was planned from; the next epoch's majority gate counts them. */
  members: string[]
  /** Unix ms when the coordinator built it; informational only (staleness display). */
  createdAt?: number
}

// useRecords off: plain CBOR maps, no cbor-x record extension, so any CBOR reader can
// decode a map. variableMapSize: minimal map headers, a function of the content only.
const cbor = new Encoder({ useRecords: false, variableMapSize: true, mapsAsObjects: true })

/**
 * Rebuilds a value with object keys inserted in sorted order. JS enumerates
 * integer-like keys (a ring named "10") numerically first, then the rest in insertion
 * order: either way the order depends only on the key set, which is all we need.
 */
function canonical (v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical)
  if (typeof v === 'object' && v !== null) {
    const out: Record<string, unknown> = {}
    for (const k of Object.keys(v).sort()) {
      const x = (v as Record<string, unknown>)[k]
      if (x !== undefined) out[k] = canonical(x)
    }
    return out
  }
  return v
}

/** Validates and encodes a map canonically. Throws MapError. */
export function encodeMap (map: ClusterMap): Uint8Array {
  const valid = validateMap(map)
  const bytes = new Uint8Array(cbor.encode(canonical(valid)))
  if (bytes.length > MAX_MAP_BYTES) throw new MapError('MAP_TOO_LARGE', `cluster map: encoded size ${bytes.length} exceeds ${MAX_MAP_BYTES} bytes`)
  return bytes
}

/** Decodes and fully validates map bytes from the network or disk. Throws MapError. */
export function decodeMap (bytes: Uint8Array): ClusterMap {
  if (!(bytes instanceof Uint8Array)) throw new MapError('MAP_DECODE', 'cluster map: expected bytes')
  if (bytes.length > MAX_MAP_BYTES) throw new MapError('MAP_TOO_LARGE', `cluster map: ${bytes.length} bytes exceeds ${MAX_MAP_BYTES}`)
  let value: unknown
  try {
    value = cbor.decode(bytes)
  } catch (err) {
    throw new MapError('MAP_DECODE', `cluster map: not valid cbor (${(err as Error).message})`)
  }
  return validateMap(value)
}

/** The map's content address: the blob CID of its canonical encoding. */
export function mapHash (map: ClusterMap): string {
  return blobCid(encodeMap(map))
}
