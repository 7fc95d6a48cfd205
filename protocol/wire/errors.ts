// The one error the wire codec raises: every malformed input, whatever went
// wrong inside the CBOR decoder, surfaces as a WireError with a stable code.

export type WireErrorCode =
  | 'too-large' // more bytes than the channel allows
  | 'malformed' // not decodable CBOR, or trailing garbage
  | 'unsupported-version' // envelope version we do not speak
  | 'unknown-type' // message type not known on this channel
  | 'invalid-message' // decoded, but fails the schema (path in `field`)

export class WireError extends Error {
  constructor (readonly code: WireErrorCode, message: string, readonly field?: string) {
    super(field !== undefined ? `${message} (at ${field})` : message)
    this.name = 'WireError'
  }
}
