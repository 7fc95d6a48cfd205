// Shared types of the ring package. The builder (ring/builder*.ts, ring/state.ts),
// the Swift file codec (ring/format.ts), content addresses (ring/address.ts) and
// lookups (ring/lookup.ts) all speak these shapes.

/** One device as Swift's ring header lists it (`devs[id]`). */
export interface RingDevice {
  id: number
  region: number
  zone: number
  ip: string
  port: number
  device: string
  weight: number
  meta: string
  replication_ip?: string
  replication_port?: number
}

/** What an operator supplies for a device; `id` is optional and matched by (ip, port, device) otherwise. */
export interface DeviceSpec {
  id?: number
  region: number
  zone: number
  ip: string
  port: number
  device: string
  weight: number
  meta?: string
  replication_ip?: string
  replication_port?: number
}

/**
 * A built ring: Swift's `replica2part2dev_id` plus its device list.
 * `rows.length === Math.ceil(replicas)`; every row but the last has 2^partPower entries,
 * the last of a fractional ring has floor(2^partPower × frac). 0xFFFF means "no device".
 */
export interface RingData {
  partPower: number
  devs: Array<RingDevice | null>
  rows: Uint16Array[]
}

export interface BuildParams {
  partPower: number
  /** ≥ 1, may be fractional (e.g. 2.5). */
  replicas: number
  minPartHours: number
  /** Fraction, e.g. 0.1 lets a device take 10% more than its weight share to keep dispersion. */
  overload: number
  /** Seed of the builder's deterministic PRNG. */
  seed: number
}

export interface RebalanceReport {
  /** Partition-replicas whose device changed in this rebalance. */
  moved: number
  /**
   * The least movement for this change: partition-replicas that must leave (unplaced, or
   * above a device's planned ceiling) or must arrive (below its floor), whichever is more.
   * For one added device ≈ parts × replicas × addedWeight / totalWeight; for a removal, its share.
   */
  minimum: number
  /** max over devices of |100 × assigned / wanted − 100| (Swift's definition). */
  balance: number
  /** Swift's dispersion percentage, against its weight-blind tier maxima. */
  dispersion: number
  /** The same count against the builder's weight-aware plan (0: the plan was met; differs from `dispersion` only with uneven weights). */
  plannedDispersion: number
  ms: number
}

/**
 * The builder's own state, carried between rebalances (and between coordinators) as
 * the `.builder` blob. Its fields are the builder's business (ring/builder*.ts);
 * ring/state.ts encodes it as versioned cbor.
 */
export interface BuilderState {
  version: 1
  params: BuildParams
  devs: Array<RingDevice | null>
  rows: Uint16Array[]
  /** Hours since each partition last moved, saturating at 255 (Swift's _last_part_moves). */
  lastMoveHours: Uint8Array
  /** Unix ms of the rebalance that produced this state. */
  rebalancedAt: number
  /**
   * Unix ms up to which lastMoveHours are counted. Ages advance in whole hours from
   * here and this moves by the same whole hours, so frequent rebalances do not lose
   * the fractions of an hour between them.
   */
  agedAt: number
}

export interface RebalanceInput {
  params: BuildParams
  devices: DeviceSpec[]
  previous?: BuilderState
  /** Unix ms, injected: the builder reads no clock. */
  now: number
  /** Treat min_part_hours as elapsed for every partition (swift-ring-builder's pretend_min_part_hours_passed). */
  pretendMinPartHoursPassed?: boolean
}

export interface RebalanceResult {
  ring: RingData
  state: BuilderState
  report: RebalanceReport
}
