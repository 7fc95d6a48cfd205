// Typed errors of the map service, for the socket layer and the CLI to map to exit codes.
export type MapServiceErrorCode =
  | 'TIMEOUT'
  | 'STOPPED'
  | 'NO_COORDINATOR'
  | 'RING_SET_REFUSED'
  | 'RING_SET_FAILED'
  | 'BOOTSTRAP_FAILED'
  | 'CATCH_UP_FAILED'

export class MapServiceError extends Error {
  readonly code: MapServiceErrorCode
  constructor (code: MapServiceErrorCode, message: string) {
    super(message)
    this.name = 'MapServiceError'
    this.code = code
  }
}
