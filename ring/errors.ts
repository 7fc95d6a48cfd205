// Errors of the ring builder and its state codec. Every rejection names the
// offending field or device so an operator can fix the input without guessing.

export type RingBuildErrorCode =
  | 'bad-param' // a BuildParams field (or `now`) is missing, not finite or out of range
  | 'bad-part-power' // partPower is not an integer in 1..MAX_PART_POWER
  | 'too-large' // the estimated working memory exceeds MAX_WORKING_BYTES
  | 'bad-replicas' // replicas is not a finite number in 1..MAX_REPLICAS
  | 'too-many-replicas' // more replica rows than devices with weight > 0
  | 'zero-weight' // the devices' total weight is 0
  | 'bad-device' // a DeviceSpec field is invalid
  | 'duplicate-device' // two specs share (ip, port, device) or an explicit id
  | 'too-many-devices' // ids would exceed the ring format's uint16 range
  | 'part-power-changed' // previous state has another partPower (not supported)
  | 'bad-state' // a builder state blob is corrupt, truncated or inconsistent

export class RingBuildError extends Error {
  readonly code: RingBuildErrorCode

  constructor (code: RingBuildErrorCode, message: string) {
    super(message)
    this.name = 'RingBuildError'
    this.code = code
  }
}
