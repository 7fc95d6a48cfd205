// Wire messages of the map service: the map gossip envelope on `ringleader/map/1`
// and the ring-set request/response on /ringleader/ring-set/1.0.0. Everything from
// the network is validated here before the service sees it.
import { Encoder } from 'cbor-x'
import { decodeMap, type ClusterMap } from '../protocol/map/map.js'
import { MAX_MAP_BYTES } from '../protocol/map/validate.js'
import { validateRingDefinition } from '../protocol/map/ring-definition.js'
import type { RingDefinition } from '../protocol/map/plan.js'

export const MAP_TOPIC = 'ringleader/map/1'
export const RING_SET_PROTOCOL = '/ringleader/ring-set/1.0.0'
/** Pull a peer's newest map: a node that sees members advertise a newer epoch than it holds asks one of them. */
export const MAP_PULL_PROTOCOL = '/ringleader/map-pull/1.0.0'
/** The envelope adds a few bytes to the largest map. */
export const MAX_MAP_MESSAGE_BYTES = MAX_MAP_BYTES + 64

const cbor = new Encoder({ useRecords: false, variableMapSize: true, mapsAsObjects: true })

export class MapWireError extends Error {
  readonly code = 'MAP_WIRE_INVALID'
  constructor (message: string) {
    super(message)
    this.name = 'MapWireError'
  }
}

function decodeObject (bytes: Uint8Array, what: string): Record<string, unknown> {
  let value: unknown
  try { value = cbor.decode(bytes) } catch { throw new MapWireError(`${what}: not valid cbor`) }
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array) throw new MapWireError(`${what}: not a map`)
  const obj = value as Record<string, unknown>
  if (obj.v !== 1) throw new MapWireError(`${what}: unknown version ${String(obj.v)}`)
  return obj
}

/** `{v: 1, map: <canonical map bytes>}`: the map keeps its own canonical bytes, so its hash survives the envelope. */
export function encodeMapMessage (mapBytes: Uint8Array): Uint8Array {
  return new Uint8Array(cbor.encode({ v: 1, map: mapBytes }))
}

export function decodeMapMessage (bytes: Uint8Array): { map: ClusterMap, mapBytes: Uint8Array } {
  const obj = decodeObject(bytes, 'map message')
  if (!(obj.map instanceof Uint8Array)) throw new MapWireError('map message: map must be bytes')
  for (const k of Object.keys(obj)) if (k !== 'v' && k !== 'map') throw new MapWireError(`map message: unknown field ${k}`)
  return { map: decodeMap(obj.map), mapBytes: obj.map }
}

export function encodeRingSetRequest (def: RingDefinition): Uint8Array {
  return new Uint8Array(cbor.encode({ v: 1, def: { name: def.name, partPower: def.partPower, replicas: def.replicas, minPartHours: def.minPartHours, overload: def.overload } }))
}

/** Throws MapWireError or EpochError('BAD_RING_DEF'). */
export function decodeRingSetRequest (bytes: Uint8Array): RingDefinition {
  const obj = decodeObject(bytes, 'ring-set request')
  return validateRingDefinition(obj.def)
}

export function encodeRingSetResponse (epoch: number): Uint8Array {
  return new Uint8Array(cbor.encode({ v: 1, epoch }))
}

export function decodeRingSetResponse (bytes: Uint8Array): number {
  const obj = decodeObject(bytes, 'ring-set response')
  if (typeof obj.epoch !== 'number' || !Number.isSafeInteger(obj.epoch) || obj.epoch < 1) throw new MapWireError('ring-set response: bad epoch')
  return obj.epoch
}

export function encodeMapPullRequest (): Uint8Array {
  return new Uint8Array(cbor.encode({ v: 1 }))
}

export function decodeMapPullRequest (bytes: Uint8Array): void {
  decodeObject(bytes, 'map-pull request')
}
