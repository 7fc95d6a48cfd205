// `agent ring build`: devices.json (+ an optional previous .builder) → NAME.ring.gz and
// NAME.builder, both written atomically so --out never holds a half-written file.
import { mkdir, open, rename, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { rebalance } from '../ring/builder.js'
import { decodeBuilderState, encodeBuilderState } from '../ring/state.js'
import { encodeRingGz } from '../ring/format.js'
import { cidString } from '../ring/address.js'
import type { BuilderState, BuildParams } from '../ring/types.js'
import { readDevicesFile } from './devices-file.js'
import { fsyncDir, tempNameFor } from './fs-atomic.js'
import { formatKeyValues } from './cli/table.js'
import { EXIT_OK, fixed, intFlag, numberFlag, overloadFlag, parse, readInput, RingUsageError, siblingRingRows, str, type RingCliDeps, type RingCliIo } from './ring-cli-args.js'

export const BUILD_USAGE = `Usage: agent ring build --name NAME --devices devices.json --part-power P --replicas R --out DIR [options]

Rebalances the devices into DIR/NAME.ring.gz (Swift ring format v1) and DIR/NAME.builder
(the builder state a later --previous continues from). Both files are written atomically;
on any error DIR is left as it was.

  --name NAME                    ring name: account, container, object, object-1, …
  --devices FILE                 JSON array of {region, zone, ip, port, device, weight, meta?, id?,
                                 replication_ip?, replication_port?}
  --part-power P                 2^P partitions (default with --previous: the previous one)
  --replicas R                   replicas, may be fractional, e.g. 2.5 (default with --previous)
  --min-part-hours H             hours before a partition may move again (default 1)
  --overload F                   extra share a device may take for dispersion: 0.1 or 10% (default 0)
  --seed S                       seed of the builder's deterministic choices (default 1)
  --previous FILE                a .builder to continue from, so few partitions move
                                 (its NAME.ring.gz must sit next to it: the rows live there)
  --pretend-min-part-hours-passed  ignore min_part_hours for this rebalance
  --out DIR                      output directory (created if missing)
  --json                         print a JSON object instead of a table
`

/** Writes every file to a temp name in `dir`, fsyncs, then renames all and fsyncs `dir`; on failure removes its temps. */
async function writeFilesAtomic (dir: string, files: Array<[string, Uint8Array]>): Promise<void> {
  await mkdir(dir, { recursive: true })
  const temps: string[] = []
  try {
    for (const [name, data] of files) {
      const temp = join(dir, tempNameFor(name))
      const fh = await open(temp, 'wx', 0o644)
      temps.push(temp)
      try {
        await fh.writeFile(data)
        await fh.sync()
      } finally {
        await fh.close()
      }
    }
    // The builder first: a crash between the renames then leaves a ring.gz that the
    // next build (continuing from the new builder) replaces consistently.
    for (let i = 0; i < files.length; i++) {
      await rename(temps[i], join(dir, files[i][0]))
      temps[i] = ''
    }
    await fsyncDir(dir)
  } finally {
    for (const temp of temps) if (temp !== '') await unlink(temp).catch(() => {})
  }
}

export async function build (args: string[], io: RingCliIo, deps: RingCliDeps): Promise<number> {
  const { values, positionals } = parse(args, {
    name: { type: 'string' },
    devices: { type: 'string' },
    'part-power': { type: 'string' },
    replicas: { type: 'string' },
    'min-part-hours': { type: 'string' },
    overload: { type: 'string' },
    seed: { type: 'string' },
    previous: { type: 'string' },
    'pretend-min-part-hours-passed': { type: 'boolean' },
    out: { type: 'string' },
    json: { type: 'boolean' }
  }, true)
  if (values.help === true) { io.stdout(BUILD_USAGE); return EXIT_OK }
  if (positionals.length > 0) throw new RingUsageError(`unexpected argument "${positionals[0]}"`)
  const name = str(values.name)
  const devicesPath = str(values.devices)
  const out = str(values.out)
  for (const [flag, v] of [['name', name], ['devices', devicesPath], ['out', out]] as const) {
    if (v === undefined || v === '') throw new RingUsageError(`--${flag} is required`)
  }
  if (!/^[a-z0-9][a-z0-9_-]{0,63}$/i.test(name as string)) throw new RingUsageError(`--name "${name as string}" must be letters, digits, '-' and '_' (e.g. object, object-1)`)
  const partPower = intFlag('part-power', str(values['part-power']), 1, 32)
  const replicas = numberFlag('replicas', str(values.replicas), 1)
  const minPartHours = intFlag('min-part-hours', str(values['min-part-hours']), 0, 255 * 24)
  const overload = overloadFlag(str(values.overload))
  const seed = intFlag('seed', str(values.seed), 0, 2 ** 32 - 1)
  const previousPath = str(values.previous)
  if (previousPath === undefined && (partPower === undefined || replicas === undefined)) {
    throw new RingUsageError('--part-power and --replicas are required (unless --previous supplies them)')
  }

  const devices = await readDevicesFile(devicesPath as string)
  let previous: BuilderState | undefined
  if (previousPath !== undefined) previous = decodeBuilderState(await readInput(previousPath, 'builder file'), await siblingRingRows(previousPath))
  const params: BuildParams = {
    partPower: partPower ?? (previous as BuilderState).params.partPower,
    replicas: replicas ?? (previous as BuilderState).params.replicas,
    minPartHours: minPartHours ?? previous?.params.minPartHours ?? 1,
    overload: overload ?? previous?.params.overload ?? 0,
    seed: seed ?? previous?.params.seed ?? 1
  }
  const started = performance.now()
  const result = rebalance({ params, devices, previous, now: (deps.now ?? Date.now)(), pretendMinPartHoursPassed: values['pretend-min-part-hours-passed'] === true })
  const ms = performance.now() - started
  const ringBytes = encodeRingGz(result.ring)
  const builderBytes = encodeBuilderState(result.state)
  const ringFile = join(out as string, `${name as string}.ring.gz`)
  const builderFile = join(out as string, `${name as string}.builder`)
  await writeFilesAtomic(out as string, [[`${name as string}.builder`, builderBytes], [`${name as string}.ring.gz`, ringBytes]])

  const { report } = result
  const summary = {
    name,
    ringFile,
    ringCid: cidString(ringBytes),
    ringBytes: ringBytes.length,
    builderFile,
    builderCid: cidString(builderBytes),
    builderBytes: builderBytes.length,
    partPower: params.partPower,
    replicas: params.replicas,
    minPartHours: params.minPartHours,
    overload: params.overload,
    seed: params.seed,
    devices: result.ring.devs.filter(d => d != null).length,
    moved: report.moved,
    minimum: report.minimum,
    balance: report.balance,
    dispersion: report.dispersion,
    ms: Math.round(ms * 10) / 10
  }
  if (values.json === true) { io.stdout(JSON.stringify(summary) + '\n'); return EXIT_OK }
  const ratio = report.minimum > 0 ? ` (${fixed(report.moved / report.minimum)}x the minimum)` : ''
  io.stdout(formatKeyValues([
    ['ring', `${summary.name as string}: 2^${params.partPower} partitions, ${params.replicas} replicas, ${summary.devices} devices`],
    ['params', `min_part_hours ${params.minPartHours}, overload ${params.overload}, seed ${params.seed}${previous != null ? `, continued from ${previousPath as string}` : ''}`],
    ['moved', `${report.moved} partition-replicas${ratio}`],
    ['minimum', fixed(report.minimum, 1)],
    ['balance', fixed(report.balance)],
    ['dispersion', fixed(report.dispersion)],
    ['time', `${summary.ms} ms`],
    ['ring.gz', `${ringFile}  ${summary.ringCid}`],
    ['builder', `${builderFile}  ${summary.builderCid}`]
  ]))
  return EXIT_OK
}
