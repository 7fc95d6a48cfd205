// Validation of one ring definition (name, part power, replicas, min_part_hours,
// overload) as an operator or a peer gives it. Its own file so that the CLI's
// config parsing can use it without loading the map machinery.
import { EpochError } from './epoch-types.js'
import type { RingDefinition } from './plan.js'
import { MAX_MIN_PART_HOURS, MAX_OVERLOAD, MAX_PART_POWER, MAX_REPLICAS, RING_NAME } from './validate.js'

/** What a new ring gets when the operator names only part power and replicas (swift-ring-builder create P R 1). */
export const NEW_RING_DEFAULTS = { minPartHours: 1, overload: 0 } as const

/** Checks one ring definition from an operator or a peer. Throws EpochError('BAD_RING_DEF'). */
export function validateRingDefinition (v: unknown): RingDefinition {
  const bad = (why: string): never => { throw new EpochError('BAD_RING_DEF', `ring definition: ${why}`) }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) bad('must be an object')
  const d = v as Record<string, unknown>
  for (const k of Object.keys(d)) if (!['name', 'partPower', 'replicas', 'minPartHours', 'overload'].includes(k)) bad(`unknown field ${k}`)
  const int = (x: unknown, lo: number, hi: number, f: string): number =>
    typeof x === 'number' && Number.isInteger(x) && x >= lo && x <= hi ? x : bad(`${f} must be an integer in [${lo}, ${hi}]`)
  const num = (x: unknown, lo: number, hi: number, f: string): number =>
    typeof x === 'number' && Number.isFinite(x) && x >= lo && x <= hi ? x : bad(`${f} must be a number in [${lo}, ${hi}]`)
  if (typeof d.name !== 'string' || !RING_NAME.test(d.name)) bad('name must match [a-z0-9_-]{1,32}')
  return {
    name: d.name as string,
    partPower: int(d.partPower, 0, MAX_PART_POWER, 'partPower'),
    replicas: num(d.replicas, 1, MAX_REPLICAS, 'replicas'),
    minPartHours: int(d.minPartHours, 0, MAX_MIN_PART_HOURS, 'minPartHours'),
    overload: num(d.overload, 0, MAX_OVERLOAD, 'overload')
  }
}

