// `agent ring build|show|get-nodes`: offline ring tools, shaped like swift-ring-builder and
// swift-get-nodes. No daemon is involved. Exit codes: 0 ok; 2 the command line or the
// devices file is wrong (fix the input); 1 something else failed (a file is missing,
// unreadable or corrupt, or writing failed). `build` leaves --out untouched on any error.
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { performance } from 'node:perf_hooks'
import { rebalance } from '../ring/builder.js'
import { ringStats } from '../ring/builder-stats.js'
import { RingBuildError } from '../ring/errors.js'
import { decodeBuilderState, encodeBuilderState } from '../ring/state.js'
import { decodeRingGz, encodeRingGz, RingFormatError } from '../ring/format.js'
import { cidString } from '../ring/address.js'
import { hashPath, LookupError, partitionFor, RingLookup, type HashPathConfig } from '../ring/lookup.js'
import type { BuilderState, BuildParams, RingData, RingDevice } from '../ring/types.js'
import { DevicesFileError, readDevicesFile } from './devices-file.js'
import { fsyncDir, tempNameFor } from './fs-atomic.js'
import { formatKeyValues, formatTable } from './cli/table.js'

export interface RingCliIo {
  stdout: (s: string) => void
  stderr: (s: string) => void
}

/** Injected for tests; the CLI reads the clock only here. */
export interface RingCliDeps {
  now?: () => number
}

/** Wrong command line: exit 2. */
class RingUsageError extends Error {
  readonly code = 'ERR_USAGE'
}

const EXIT_OK = 0
const EXIT_RUNTIME = 1
const EXIT_USAGE = 2

const USAGE = `Usage: agent ring <command> [options]

Offline Swift ring tools (no daemon needed):
  build       rebalance devices.json into NAME.ring.gz and NAME.builder
  show        parameters, devices, balance and dispersion of a ring.gz or .builder
  get-nodes   partition, primaries and handoffs of an account/container/object

Run "agent ring <command> --help" for a command's options.
Exit codes: 0 ok, 1 runtime error (missing or corrupt file, write failed), 2 bad command line or devices file.
`

const BUILD_USAGE = `Usage: agent ring build --name NAME --devices devices.json --part-power P --replicas R --out DIR [options]

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
  --pretend-min-part-hours-passed  ignore min_part_hours for this rebalance
  --out DIR                      output directory (created if missing)
  --json                         print a JSON object instead of a table
`

const SHOW_USAGE = `Usage: agent ring show FILE [--json]

FILE is a NAME.ring.gz or NAME.builder. Prints the ring's parameters, each device with its
partition-replicas and how far that is over (+) or under (-) its weight share, and the
ring's balance and dispersion.
`

const GET_NODES_USAGE = `Usage: agent ring get-nodes FILE ACCOUNT [CONTAINER [OBJECT]] --hash-path-suffix S [options]
       agent ring get-nodes FILE --partition N

Prints the partition of the path and its primary and handoff devices, as swift-get-nodes does.

  --hash-path-suffix S   swift_hash_path_suffix from swift.conf
  --hash-path-prefix P   swift_hash_path_prefix from swift.conf (default empty)
  --swift-conf FILE      read both from FILE's [swift-hash] section instead
  --partition N          look up partition N directly (no path, no hash settings)
  --handoffs N           handoffs to print (default: as many as there are primaries)
  --all                  print every handoff
  --json                 print a JSON object instead of text
`

type Options = NonNullable<ParseArgsConfig['options']>

function parse (args: string[], options: Options, allowPositionals: boolean): ReturnType<typeof parseArgs> {
  try {
    return parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals })
  } catch (err) {
    throw new RingUsageError((err as Error).message)
  }
}

function intFlag (name: string, text: string | undefined, min: number, max: number): number | undefined {
  if (text === undefined) return undefined
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) throw new RingUsageError(`--${name} must be an integer in ${min}..${max}, got "${text}"`)
  return Number(text)
}

function numberFlag (name: string, text: string | undefined, min: number): number | undefined {
  if (text === undefined) return undefined
  const value = /^\d+(\.\d+)?([eE][-+]?\d+)?$|^\.\d+$/.test(text) ? Number(text) : Number.NaN
  if (!Number.isFinite(value) || value < min) throw new RingUsageError(`--${name} must be a number >= ${min}, got "${text}"`)
  return value
}

function overloadFlag (text: string | undefined): number | undefined {
  if (text === undefined) return undefined
  if (text.endsWith('%')) return (numberFlag('overload', text.slice(0, -1), 0) as number) / 100
  return numberFlag('overload', text, 0)
}

function str (v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined
}

async function readInput (path: string, what: string): Promise<Uint8Array> {
  try {
    return await readFile(path)
  } catch (err) {
    throw new Error(`cannot read ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
}

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

function fixed (n: number, digits = 2): string {
  return n.toFixed(digits)
}

async function build (args: string[], io: RingCliIo, deps: RingCliDeps): Promise<number> {
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
  if (previousPath !== undefined) previous = decodeBuilderState(await readInput(previousPath, 'builder file'))
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

interface LoadedRing {
  kind: 'ring.gz' | 'builder'
  ring: RingData
  bytes: Uint8Array
  state?: BuilderState
}

async function loadRingFile (path: string): Promise<LoadedRing> {
  const bytes = await readInput(path, 'ring file')
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) return { kind: 'ring.gz', ring: decodeRingGz(bytes), bytes }
  let state: BuilderState
  try {
    state = decodeBuilderState(bytes)
  } catch (err) {
    throw new RingFormatError('not-gzip', `${path} is neither a ring.gz (no gzip magic) nor a builder file (${(err as Error).message})`)
  }
  return { kind: 'builder', ring: { partPower: state.params.partPower, devs: state.devs, rows: state.rows }, bytes, state }
}

function deviceLabel (d: RingDevice): string {
  const host = d.ip.includes(':') ? `[${d.ip}]` : d.ip
  return `${host}:${d.port}/${d.device}`
}

async function show (args: string[], io: RingCliIo): Promise<number> {
  const { values, positionals } = parse(args, { json: { type: 'boolean' } }, true)
  if (values.help === true) { io.stdout(SHOW_USAGE); return EXIT_OK }
  if (positionals.length !== 1) throw new RingUsageError(positionals.length === 0 ? 'FILE is required' : `unexpected argument "${positionals[1]}"`)
  const path = positionals[0]
  const loaded = await loadRingFile(path)
  const { ring, state } = loaded
  const stats = ringStats(ring, { overload: state?.params.overload ?? 0 })
  const live = ring.devs.filter((d): d is RingDevice => d != null)
  const byId = new Map(stats.devices.map(d => [d.id, d]))
  const devices = live.map(d => ({ ...d, partitions: byId.get(d.id)?.assigned ?? 0, wanted: byId.get(d.id)?.wanted ?? 0, balance: byId.get(d.id)?.balance ?? 0 }))
  const regions = new Set(live.map(d => d.region))
  const zones = new Set(live.map(d => `${d.region}/${d.zone}`))
  const summary = {
    file: path,
    kind: loaded.kind,
    cid: cidString(loaded.bytes),
    bytes: loaded.bytes.length,
    partPower: ring.partPower,
    partitions: stats.parts,
    replicas: stats.replicas,
    regions: regions.size,
    zones: zones.size,
    holes: ring.devs.length - live.length,
    balance: stats.balance,
    dispersion: stats.dispersion,
    params: state?.params,
    rebalancedAt: state !== undefined ? new Date(state.rebalancedAt).toISOString() : undefined,
    devices
  }
  if (values.json === true) { io.stdout(JSON.stringify(summary) + '\n'); return EXIT_OK }
  const lines: Array<[string, unknown]> = [
    ['file', `${path} (${loaded.kind}, ${loaded.bytes.length} bytes)`],
    ['cid', summary.cid],
    ['ring', `2^${ring.partPower} = ${stats.parts} partitions, ${fixed(stats.replicas, 6).replace(/\.?0+$/, '')} replicas, ${live.length} devices (${summary.holes} holes), ${regions.size} regions, ${zones.size} zones`],
    ['balance', fixed(stats.balance)],
    ['dispersion', fixed(stats.dispersion)]
  ]
  if (state !== undefined) {
    lines.push(['params', `min_part_hours ${state.params.minPartHours}, overload ${state.params.overload}, seed ${state.params.seed}`])
    lines.push(['rebalanced', summary.rebalancedAt])
  }
  io.stdout(formatKeyValues(lines) + '\n' + formatTable(
    ['id', 'region', 'zone', 'device', 'weight', 'partitions', 'wanted', 'balance', 'meta'],
    devices.map(d => [d.id, d.region, d.zone, deviceLabel(d), d.weight, d.partitions, fixed(d.wanted), (d.balance >= 0 ? '+' : '') + fixed(d.balance), d.meta])
  ))
  return EXIT_OK
}

/** [swift-hash] swift_hash_path_suffix/prefix from a swift.conf. */
async function readSwiftConf (path: string): Promise<HashPathConfig> {
  const text = Buffer.from(await readInput(path, 'swift.conf')).toString('utf8')
  let section = ''
  const found: Record<string, string> = {}
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue
    const header = /^\[(.+)\]$/.exec(line)
    if (header != null) { section = header[1].trim(); continue }
    const kv = /^([^=:]+)[=:](.*)$/.exec(line)
    if (section === 'swift-hash' && kv != null) found[kv[1].trim()] = kv[2].trim()
  }
  const suffix = found.swift_hash_path_suffix ?? ''
  const prefix = found.swift_hash_path_prefix ?? ''
  if (suffix === '' && prefix === '') throw new Error(`${path}: [swift-hash] sets neither swift_hash_path_suffix nor swift_hash_path_prefix`)
  return { suffix, prefix }
}

async function getNodes (args: string[], io: RingCliIo): Promise<number> {
  const { values, positionals } = parse(args, {
    'hash-path-suffix': { type: 'string' },
    'hash-path-prefix': { type: 'string' },
    'swift-conf': { type: 'string' },
    partition: { type: 'string' },
    handoffs: { type: 'string' },
    all: { type: 'boolean' },
    json: { type: 'boolean' }
  }, true)
  if (values.help === true) { io.stdout(GET_NODES_USAGE); return EXIT_OK }
  const [file, account, container, object, extra] = positionals
  if (file === undefined) throw new RingUsageError('FILE is required')
  if (extra !== undefined) throw new RingUsageError(`unexpected argument "${extra}"`)
  const partitionText = str(values.partition)
  if (partitionText === undefined && account === undefined) throw new RingUsageError('ACCOUNT (or --partition N) is required')
  if (partitionText !== undefined && account !== undefined) throw new RingUsageError('give either a path or --partition, not both')
  if (object !== undefined && (container === undefined || container === '')) throw new RingUsageError('OBJECT needs a CONTAINER')
  const suffix = str(values['hash-path-suffix'])
  const prefix = str(values['hash-path-prefix'])
  const confPath = str(values['swift-conf'])
  if (confPath !== undefined && (suffix !== undefined || prefix !== undefined)) throw new RingUsageError('--swift-conf replaces --hash-path-suffix/--hash-path-prefix; give one or the other')
  if (account !== undefined && confPath === undefined && suffix === undefined && prefix === undefined) {
    throw new RingUsageError('--hash-path-suffix (or --swift-conf) is required to hash a path: it must match swift.conf on the cluster')
  }
  if (values.all === true && values.handoffs !== undefined) throw new RingUsageError('give --all or --handoffs, not both')
  const handoffCount = intFlag('handoffs', str(values.handoffs), 0, 65535)

  const { ring } = await loadRingFile(file)
  if (ring.rows.length === 0) throw new RingFormatError('invalid-ring', `${file} has no partitions assigned (never rebalanced)`)
  let partition: number
  let hash: string | undefined
  if (account !== undefined) {
    const config = confPath !== undefined ? await readSwiftConf(confPath) : { suffix: suffix ?? '', prefix: prefix ?? '' }
    hash = hashPath(account, container, object, config).toString('hex')
    partition = partitionFor(ring.partPower, account, container, object, config)
  } else {
    partition = intFlag('partition', partitionText, 0, ring.rows[0].length - 1) as number
  }
  const lookup = new RingLookup(ring)
  const primaries = lookup.primaryNodes(partition)
  const handoffs = values.all === true ? [...lookup.moreNodes(partition)] : lookup.handoffNodes(partition, handoffCount ?? primaries.length)
  if (values.json === true) {
    io.stdout(JSON.stringify({ account, container, object, partition, hash, primaries, handoffs }) + '\n')
    return EXIT_OK
  }
  const head: Array<[string, unknown]> = []
  if (account !== undefined) head.push(['Account', account])
  if (container !== undefined) head.push(['Container', container])
  if (object !== undefined) head.push(['Object', object])
  head.push(['Partition', partition])
  if (hash !== undefined) head.push(['Hash', hash])
  const row = (d: RingDevice, handoff: boolean): unknown[] => [handoff ? 'handoff' : 'primary', d.id, d.region, d.zone, deviceLabel(d), d.replication_ip !== undefined ? `${d.replication_ip}:${d.replication_port ?? d.port}` : '']
  io.stdout(formatKeyValues(head) + '\n' + formatTable(
    ['role', 'id', 'region', 'zone', 'device', 'replication'],
    [...primaries.map(d => row(d, false)), ...handoffs.map(d => row(d, true))]
  ))
  return EXIT_OK
}

/** Exit code for an error: input the operator supplied (2) or a runtime failure (1). */
function exitCodeOf (err: unknown): number {
  if (err instanceof RingUsageError) return EXIT_USAGE
  if (err instanceof DevicesFileError) return err.code === 'unreadable' ? EXIT_RUNTIME : EXIT_USAGE
  if (err instanceof RingBuildError) return err.code === 'bad-state' ? EXIT_RUNTIME : EXIT_USAGE
  if (err instanceof LookupError) return err.code === 'bad-path' ? EXIT_USAGE : EXIT_RUNTIME
  return EXIT_RUNTIME
}

export async function runRingCommand (args: string[], io: RingCliIo, deps: RingCliDeps = {}): Promise<number> {
  const [command, ...rest] = args
  const commands: Record<string, (a: string[], io: RingCliIo, deps: RingCliDeps) => Promise<number>> = { build, show, 'get-nodes': getNodes }
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    io[command === undefined ? 'stderr' : 'stdout'](USAGE)
    return command === undefined ? EXIT_USAGE : EXIT_OK
  }
  const run = commands[command]
  if (run === undefined || !Object.hasOwn(commands, command)) {
    io.stderr(`agent ring: unknown command "${command}"\n\n${USAGE}`)
    return EXIT_USAGE
  }
  try {
    return await run(rest, io, deps)
  } catch (err) {
    const code = exitCodeOf(err)
    const usage = { build: BUILD_USAGE, show: SHOW_USAGE, 'get-nodes': GET_NODES_USAGE }[command as 'build']
    io.stderr(`agent ring ${command}: ${(err as Error).message}\n${err instanceof RingUsageError ? '\n' + usage : ''}`)
    return code
  }
}
