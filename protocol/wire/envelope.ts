// Versioned CBOR envelope: the array [version, type, body]. Decoding checks the
// byte limit first, then the CBOR, then the version, and wraps every decoder
// failure in a WireError so garbage never escapes as some other exception.

import { Decoder, Encoder } from 'cbor-x'
import { WireError } from './errors.js'
import { WIRE_VERSION } from './limits.js'

// Plain CBOR only: no record structures (they would make the decoder stateful
// across messages), byte strings untagged so other implementations read them.
const encoder = new Encoder({ useRecords: false, tagUint8Array: false, variableMapSize: true })
const decoder = new Decoder({ useRecords: false, mapsAsObjects: true })

export interface Envelope {
  readonly version: number
  readonly type: string
  readonly body: unknown
}

export function encodeEnvelope (type: string, body: unknown): Uint8Array {
  return encoder.encode([WIRE_VERSION, type, body])
}

export function decodeEnvelope (bytes: Uint8Array, maxBytes: number): Envelope {
  if (!(bytes instanceof Uint8Array)) throw new WireError('malformed', 'expected bytes')
  if (bytes.length > maxBytes) throw new WireError('too-large', `message of ${bytes.length} bytes exceeds the limit of ${maxBytes}`)
  if (bytes.length === 0) throw new WireError('malformed', 'empty message')
  let value: unknown
  try {
    value = decoder.decode(bytes)
  } catch (err) {
    throw new WireError('malformed', `not valid CBOR: ${err instanceof Error ? err.message : String(err)}`)
  }
  if (!Array.isArray(value) || value.length !== 3) throw new WireError('malformed', 'envelope must be [version, type, body]')
  const [version, type, body] = value as unknown[]
  if (version !== WIRE_VERSION) throw new WireError('unsupported-version', `unsupported wire version ${String(version)}`)
  if (typeof type !== 'string') throw new WireError('malformed', 'message type must be a string')
  return { version, type, body }
}
