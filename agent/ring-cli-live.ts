// `agent ring` against the running agent: `ring set` (forwarded to the coordinator)
// and the live-ring form of `ring show NAME` / `ring get-nodes NAME …`, which read
// the ring the local agent has installed for the current epoch.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { RING_NAME } from '../protocol/map/validate.js'
import { resolveDataDir } from './config.js'
import { dataDirPaths } from './data-dir.js'
import type { MapAnswer } from './map-commands.js'
import { callAgent } from './socket/client.js'
import { EXIT_OK, intFlag, numberFlag, overloadFlag, parse, RingUsageError, str, type RingCliIo } from './ring-cli-args.js'

export const SET_USAGE = `Usage: agent ring set NAME [--part-power P] [--replicas R] [--min-part-hours H] [--overload F] [--data-dir DIR] [--json]

Adds ring NAME to the cluster map, or changes its parameters. Works on any node:
the request goes to the coordinator, which rebalances and publishes the next
epoch. Prints the epoch that carries the change (the current one if nothing
changed). A new ring needs --part-power and --replicas; the part power of an
existing ring cannot change.

  --part-power P       log2 of the partition count (0-32)
  --replicas R         replica count, fractional allowed (>= 1)
  --min-part-hours H   hours before a moved partition may move again (new ring: 1)
  --overload F         extra share a device may take for dispersion, 0.1 or 10% (new ring: 0)
  --data-dir DIR       the local agent's data dir (env RINGLEADER_DATA_DIR)
  --json               print {"epoch": N}
`

/** Where the local agent installed ring NAME, with the epoch it belongs to. */
export interface LiveRing { path: string, name: string, epoch: number, cid: string }

/**
 * A ring argument names a file, or (when no such file exists and it is a ring name)
 * the live ring of the running agent.
 */
export async function resolveRingArg (arg: string, dataDirFlag: string | undefined): Promise<{ path: string, live?: LiveRing }> {
  if (existsSync(arg) || !RING_NAME.test(arg)) return { path: arg }
  const dataDir = resolveDataDir(dataDirFlag, process.env)
  const answer = await callAgent(dataDirPaths(dataDir).socket, 'map') as MapAnswer
  if (answer.map === null) throw new Error(`no file ${arg}, and the agent (data dir ${dataDir}) has no cluster map installed yet`)
  const ring = answer.map.rings.find(r => r.name === arg)
  if (ring === undefined) throw new Error(`no file ${arg}, and epoch ${answer.map.epoch} has no ring "${arg}" (rings: ${answer.map.rings.map(r => r.name).join(', ')})`)
  const live = { path: join(answer.ringDir, `${arg}.ring.gz`), name: arg, epoch: answer.map.epoch, cid: ring.cid }
  return { path: live.path, live }
}

export async function ringSet (args: string[], io: RingCliIo): Promise<number> {
  const { values, positionals } = parse(args, {
    'part-power': { type: 'string' },
    replicas: { type: 'string' },
    'min-part-hours': { type: 'string' },
    overload: { type: 'string' },
    'data-dir': { type: 'string' },
    json: { type: 'boolean' }
  }, true)
  if (values.help === true) { io.stdout(SET_USAGE); return EXIT_OK }
  if (positionals.length !== 1) throw new RingUsageError(positionals.length === 0 ? 'NAME is required' : `unexpected argument "${positionals[1]}"`)
  const name = positionals[0]
  if (!RING_NAME.test(name)) throw new RingUsageError(`ring name must match [a-z0-9_-]{1,32}, got "${name}"`)
  const request: Record<string, unknown> = { name }
  const partPower = intFlag('part-power', str(values['part-power']), 0, 32)
  const replicas = numberFlag('replicas', str(values.replicas), 1)
  const minPartHours = intFlag('min-part-hours', str(values['min-part-hours']), 0, 65535)
  const overload = overloadFlag(str(values.overload))
  if (partPower !== undefined) request.partPower = partPower
  if (replicas !== undefined) request.replicas = replicas
  if (minPartHours !== undefined) request.minPartHours = minPartHours
  if (overload !== undefined) request.overload = overload
  const dataDir = resolveDataDir(str(values['data-dir']), process.env)
  const { epoch } = await callAgent(dataDirPaths(dataDir).socket, 'ring-set', request, { timeoutMs: 90_000 }) as { epoch: number }
  io.stdout(values.json === true ? JSON.stringify({ name, epoch }) + '\n' : `Ring ${name} is set in epoch ${epoch}.\n`)
  return EXIT_OK
}
