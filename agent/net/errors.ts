// Named errors of the network layer. Every failure a caller may act on carries a
// stable `code`; the message is for humans.

/** Codes shared by the stream protocols (request-response, blob). */
export type ProtocolErrorCode =
  | 'timeout' // the per-request deadline passed
  | 'aborted' // the caller's signal fired
  | 'bad-frame' // the peer sent bytes that do not parse as this protocol
  | 'oversize' // a frame exceeded the configured maximum
  | 'eof' // the peer closed or died before the exchange was complete
  | 'dial-failed' // no stream could be opened to the peer
  | 'remote-error' // the remote handler failed; see `remoteCode`
  | 'busy' // the remote is at its concurrency limit
  | 'not-found' // blob: the peer does not hold the blob
  | 'bad-range' // blob: offset/length outside the blob or above the range limit
  | 'bad-length' // blob: the peer sent more or fewer bytes than it announced

export class ProtocolError extends Error {
  static readonly NAME = 'ProtocolError'
  override readonly name = 'ProtocolError'
  readonly code: ProtocolErrorCode
  /** For `remote-error`: the code the remote handler reported. */
  readonly remoteCode?: string

  constructor (code: ProtocolErrorCode, message: string, opts: { remoteCode?: string, cause?: unknown } = {}) {
    super(message, opts.cause !== undefined ? { cause: opts.cause } : undefined)
    this.code = code
    if (opts.remoteCode !== undefined) this.remoteCode = opts.remoteCode
  }
}

/** A handler may throw this to send a specific error code to the client. */
export class HandlerError extends Error {
  override readonly name = 'HandlerError'
  readonly code: string
  constructor (code: string, message: string) {
    super(message)
    this.code = code
  }
}

export type JoinAddressErrorCode = 'empty' | 'bad-multiaddr' | 'bad-port' | 'bad-host' | 'bad-peer-id'

export class JoinAddressError extends Error {
  override readonly name = 'JoinAddressError'
  readonly code: JoinAddressErrorCode
  readonly input: string
  constructor (code: JoinAddressErrorCode, input: string, message: string) {
    super(`join address ${JSON.stringify(input)}: ${message}`)
    this.code = code
    this.input = input
  }
}

export type DialSeedErrorCode = 'seed-unreachable' | 'aborted'

export class DialSeedError extends Error {
  override readonly name = 'DialSeedError'
  readonly code: DialSeedErrorCode
  readonly attempts: number
  constructor (code: DialSeedErrorCode, attempts: number, message: string, cause?: unknown) {
    super(message, cause !== undefined ? { cause } : undefined)
    this.code = code
    this.attempts = attempts
  }
}

export type SwarmFetchErrorCode = 'no-holders' | 'corrupt' | 'aborted' | 'bad-argument' | 'sink-failed'

export class SwarmFetchError extends Error {
  override readonly name = 'SwarmFetchError'
  readonly code: SwarmFetchErrorCode
  constructor (code: SwarmFetchErrorCode, message: string, cause?: unknown) {
    super(message, cause !== undefined ? { cause } : undefined)
    this.code = code
  }
}

export type DatagramErrorCode =
  | 'too-large' // over the channel's datagram limit (sending or receiving)
  | 'malformed' // not a datagram envelope of a version this build reads
  | 'wrong-recipient' // addressed to another node (or sent by this one)
  | 'bad-key' // the sender's id is not an Ed25519 peer id
  | 'bad-signature' // the signature does not verify with the sender's key

export class DatagramError extends Error {
  override readonly name = 'DatagramError'
  readonly code: DatagramErrorCode
  constructor (code: DatagramErrorCode, message: string) {
    super(message)
    this.code = code
  }
}

/** Maps a low-level failure (libp2p, lpStream, abort) to a ProtocolError. */
export function toProtocolError (err: unknown, context: string, signals: { timeout?: AbortSignal, caller?: AbortSignal } = {}): ProtocolError {
  if (err instanceof ProtocolError) return err
  if (signals.caller?.aborted === true) return new ProtocolError('aborted', `${context}: aborted`, { cause: err })
  if (signals.timeout?.aborted === true) return new ProtocolError('timeout', `${context}: timed out`, { cause: err })
  const name = err instanceof Error ? err.name : ''
  const message = err instanceof Error ? err.message : String(err)
  switch (name) {
    case 'InvalidDataLengthError':
    case 'InvalidDataLengthLengthError':
    case 'StreamBufferError':
      return new ProtocolError('oversize', `${context}: ${message}`, { cause: err })
    case 'InvalidMessageLengthError':
      return new ProtocolError('bad-frame', `${context}: ${message}`, { cause: err })
    case 'UnexpectedEOFError':
    case 'StreamResetError':
    case 'StreamAbortedError':
    case 'StreamStateError':
    case 'ConnectionClosedError':
    case 'MuxerClosedError':
      return new ProtocolError('eof', `${context}: ${message}`, { cause: err })
    case 'TimeoutError':
      return new ProtocolError('timeout', `${context}: ${message}`, { cause: err })
    case 'AbortError':
      return new ProtocolError('aborted', `${context}: ${message}`, { cause: err })
    default:
      return new ProtocolError('eof', `${context}: ${name !== '' ? name + ': ' : ''}${message}`, { cause: err })
  }
}
