// The envelope of a signed datagram (datagram-channel.ts). Pure: bytes in, fields
// out, no sockets and no keys.
//
//   'R' 'D' version=1
//   u8 length, sender id (ASCII)        u8 length, recipient id (ASCII)
//   8 bytes nonce   (the sender's, random per process)
//   8 bytes echo    (the recipient's nonce as the sender last saw it; zeros if none)
//   u16 length, payload
//   64 bytes Ed25519 signature over everything before it
//
// The recipient is signed, so a datagram cannot be redirected to another node; the
// echo lets a node take an answer only if it was made for this process's requests,
// so an ack captured before a restart cannot be replayed into the next one.
import { DatagramError } from './errors.js'
import { SIGNATURE_BYTES } from './ed25519-keys.js'

const MAGIC_0 = 0x52
const MAGIC_1 = 0x44
export const DATAGRAM_VERSION = 1
export const NONCE_BYTES = 8
/** Peer ids are ~52 ASCII characters; anything longer is not one of ours. */
const MAX_ID_BYTES = 128

export interface DatagramFields {
  from: string
  to: string
  nonce: Uint8Array
  echo: Uint8Array
  payload: Uint8Array
}

export interface DecodedDatagram extends DatagramFields {
  /** The bytes the signature covers. */
  signed: Uint8Array
  signature: Uint8Array
}

/** Bytes of an envelope around `payloadBytes` for these ids, signature included. */
export function envelopeSize (from: string, to: string, payloadBytes: number): number {
  return 3 + 1 + from.length + 1 + to.length + 2 * NONCE_BYTES + 2 + payloadBytes + SIGNATURE_BYTES
}

function asciiId (id: string, field: string): Uint8Array {
  if (id.length === 0 || id.length > MAX_ID_BYTES || !/^[\x21-\x7e]+$/.test(id)) throw new DatagramError('malformed', `${field} id is not a short printable ASCII string`)
  return Buffer.from(id, 'latin1')
}

/** The signed part of an envelope; append `sign(result)` to make the datagram. */
export function encodeSignedPart (f: DatagramFields): Uint8Array {
  const from = asciiId(f.from, 'sender')
  const to = asciiId(f.to, 'recipient')
  if (f.nonce.byteLength !== NONCE_BYTES || f.echo.byteLength !== NONCE_BYTES) throw new DatagramError('malformed', 'nonce and echo are 8 bytes each')
  if (f.payload.byteLength > 0xffff) throw new DatagramError('too-large', `payload of ${f.payload.byteLength} bytes`)
  const out = Buffer.allocUnsafe(envelopeSize(f.from, f.to, f.payload.byteLength) - SIGNATURE_BYTES)
  let at = 0
  out[at++] = MAGIC_0
  out[at++] = MAGIC_1
  out[at++] = DATAGRAM_VERSION
  out[at++] = from.byteLength
  out.set(from, at); at += from.byteLength
  out[at++] = to.byteLength
  out.set(to, at); at += to.byteLength
  out.set(f.nonce, at); at += NONCE_BYTES
  out.set(f.echo, at); at += NONCE_BYTES
  out.writeUInt16BE(f.payload.byteLength, at); at += 2
  out.set(f.payload, at)
  return out
}

/** Splits a received datagram; throws DatagramError('malformed') on anything but an exact envelope. */
export function decodeEnvelope (bytes: Uint8Array): DecodedDatagram {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const fail = (why: string): never => { throw new DatagramError('malformed', `datagram: ${why}`) }
  if (b.byteLength < 4 + SIGNATURE_BYTES || b[0] !== MAGIC_0 || b[1] !== MAGIC_1) fail('not a ringleader datagram')
  if (b[2] !== DATAGRAM_VERSION) fail(`version ${b[2]} (this build reads ${DATAGRAM_VERSION})`)
  let at = 3
  const id = (field: string): string => {
    const n = b[at++]
    if (n === undefined || n === 0 || n > MAX_ID_BYTES || at + n > b.byteLength) fail(`${field} id length`)
    const s = b.toString('latin1', at, at + n)
    if (!/^[\x21-\x7e]+$/.test(s)) fail(`${field} id is not printable ASCII`)
    at += n
    return s
  }
  const from = id('sender')
  const to = id('recipient')
  if (at + 2 * NONCE_BYTES + 2 > b.byteLength) fail('truncated header')
  const nonce = b.subarray(at, at + NONCE_BYTES); at += NONCE_BYTES
  const echo = b.subarray(at, at + NONCE_BYTES); at += NONCE_BYTES
  const length = b.readUInt16BE(at); at += 2
  if (at + length + SIGNATURE_BYTES !== b.byteLength) fail(`payload length ${length} does not match the datagram's ${b.byteLength} bytes`)
  const payload = b.subarray(at, at + length)
  return { from, to, nonce, echo, payload, signed: b.subarray(0, at + length), signature: b.subarray(at + length) }
}
