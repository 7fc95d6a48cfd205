// `agent ring show` and `agent ring get-nodes`: read a ring.gz or .builder and report on
// it, the way swift-ring-builder's default command and swift-get-nodes do.
import { ringStats } from '../ring/builder-stats.js'
import { decodeBuilderState } from '../ring/state.js'
import { decodeRingGz, RingFormatError } from '../ring/format.js'
import { cidString } from '../ring/address.js'
import { hashPath, partitionFor, RingLookup, type HashPathConfig } from '../ring/lookup.js'
import type { BuilderState, RingData, RingDevice } from '../ring/types.js'
import { formatKeyValues, formatTable } from './cli/table.js'
import { resolveRingArg } from './ring-cli-live.js'
import { EXIT_OK, fixed, intFlag, parse, readInput, RingUsageError, siblingRingRows, str, type RingCliIo } from './ring-cli-args.js'

export const SHOW_USAGE = `Usage: agent ring show FILE|NAME [--data-dir DIR] [--json]

FILE is a NAME.ring.gz or NAME.builder. A bare ring NAME (no such file here) is the
ring the local agent installed for the current epoch (--data-dir picks the agent).
Prints the ring's parameters, each device with its partition-replicas and how far
that is over (+) or under (-) its weight share, and the ring's balance and dispersion.
`

export const GET_NODES_USAGE = `Usage: agent ring get-nodes FILE|NAME ACCOUNT [CONTAINER [OBJECT]] --hash-path-suffix S [options]
       agent ring get-nodes FILE|NAME --partition N

Prints the partition of the path and its primary and handoff devices, as swift-get-nodes does.
A bare ring NAME (no such file here) is the local agent's live ring.

  --hash-path-suffix S   swift_hash_path_suffix from swift.conf
  --hash-path-prefix P   swift_hash_path_prefix from swift.conf (default empty)
  --swift-conf FILE      read both from FILE's [swift-hash] section instead
  --partition N          look up partition N directly (no path, no hash settings)
  --handoffs N           handoffs to print (default: as many as there are primaries)
  --all                  print every handoff
  --data-dir DIR         the local agent's data dir, for a live ring NAME
  --json                 print a JSON object instead of text
`

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
    state = decodeBuilderState(bytes, await siblingRingRows(path))
  } catch (err) {
    throw new RingFormatError('not-gzip', `${path} is neither a ring.gz (no gzip magic) nor a builder file (${(err as Error).message})`)
  }
  return { kind: 'builder', ring: { partPower: state.params.partPower, devs: state.devs, rows: state.rows }, bytes, state }
}

function deviceLabel (d: RingDevice): string {
  const host = d.ip.includes(':') ? `[${d.ip}]` : d.ip
  return `${host}:${d.port}/${d.device}`
}

export async function show (args: string[], io: RingCliIo): Promise<number> {
  const { values, positionals } = parse(args, { json: { type: 'boolean' }, 'data-dir': { type: 'string' } }, true)
  if (values.help === true) { io.stdout(SHOW_USAGE); return EXIT_OK }
  if (positionals.length !== 1) throw new RingUsageError(positionals.length === 0 ? 'FILE is required' : `unexpected argument "${positionals[1]}"`)
  const { path, live: liveRing } = await resolveRingArg(positionals[0], str(values['data-dir']))
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
    ...(liveRing !== undefined ? { epoch: liveRing.epoch } : {}),
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
    ['file', `${path} (${loaded.kind}, ${loaded.bytes.length} bytes)${liveRing !== undefined ? `, live ring of epoch ${liveRing.epoch}` : ''}`],
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

export async function getNodes (args: string[], io: RingCliIo): Promise<number> {
  const { values, positionals } = parse(args, {
    'hash-path-suffix': { type: 'string' },
    'hash-path-prefix': { type: 'string' },
    'swift-conf': { type: 'string' },
    partition: { type: 'string' },
    handoffs: { type: 'string' },
    all: { type: 'boolean' },
    json: { type: 'boolean' },
    'data-dir': { type: 'string' }
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

  const { ring } = await loadRingFile((await resolveRingArg(file, str(values['data-dir']))).path)
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

