// Ring builder benchmark: ours and Swift's RingBuilder side by side, in one run.
//
//   node build/bench/ring.js [--quick] [--no-swift]
//   node build/bench/ring.js --irregular     (initial builds of 39 irregular clusters, vs Swift)
//
// Every configuration runs in its own child process (one for ours, one for Swift's
// python3-swift), so peak RSS is per configuration. Scenarios, identical for both:
// 1 region, 3 replicas, min_part_hours 0, equal weights, 4 devices per host, host h in
// zone h % zones; initial build; one device added on a new host; a whole zone added
// (each from the initial build). Moved partition-replicas are diffed from the rows and
// compared with the minimum parts × replicas × addedWeight / totalWeight.
// Prints JSON on stdout and the table for docs/benchmarks.md on stderr.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { rebalance } from '../ring/builder.js'
import { encodeRingGz } from '../ring/format.js'
import type { BuildParams, DeviceSpec, RebalanceResult, RingData } from '../ring/types.js'

const here = dirname(fileURLToPath(import.meta.url))
const repoRoot = join(here, '..', '..')
const WEIGHT = 100
const DISKS_PER_HOST = 4

interface Config { partPower: number, devices: number, zones: number }
const FULL: Config[] = [
  { partPower: 16, devices: 100, zones: 8 },
  { partPower: 18, devices: 1000, zones: 10 },
  { partPower: 20, devices: 1000, zones: 10 }
]
const QUICK: Config[] = [
  { partPower: 12, devices: 100, zones: 8 },
  { partPower: 14, devices: 1000, zones: 10 }
]

interface InitialResult { ms: number, cpuMs?: number, encodeMs?: number, balance: number, dispersion: number, peakRssMb: number }
interface ChangeResult { ms: number, cpuMs?: number, moved: number, minimum: number, ratio: number, balance: number, dispersion: number, peakRssMb: number }
interface BuilderResult { builder: string, initial: InitialResult, addDevice: ChangeResult, addZone: ChangeResult, processMs?: number, error?: string }

function device (host: number, zone: number, disk: number): DeviceSpec {
  return { region: 1, zone, ip: `10.${host >> 8}.${host & 255}.1`, port: 6200, device: `d${disk}`, weight: WEIGHT }
}

function peakRssMb (): number {
  return process.resourceUsage().maxRSS / 1024
}

function movedBetween (before: RingData, after: RingData): number {
  let moved = 0
  after.rows.forEach((row, r) => {
    const old = before.rows[r]
    for (let p = 0; p < row.length; p++) if (old === undefined || p >= old.length || old[p] !== row[p]) moved++
  })
  return moved
}

function change (base: RebalanceResult, params: BuildParams, devices: DeviceSpec[], addedWeight: number): ChangeResult {
  const cpu = process.cpuUsage()
  const result = rebalance({ params, devices, previous: base.state, now: 0, pretendMinPartHoursPassed: true }, () => performance.now())
  const cpuUsed = process.cpuUsage(cpu)
  const totalWeight = devices.reduce((n, d) => n + d.weight, 0)
  const minimum = 2 ** params.partPower * params.replicas * addedWeight / totalWeight
  const moved = movedBetween(base.ring, result.ring)
  return { ms: result.report.ms, cpuMs: (cpuUsed.user + cpuUsed.system) / 1000, moved, minimum, ratio: moved / minimum, balance: result.report.balance, dispersion: result.report.dispersion, peakRssMb: peakRssMb() }
}

/** Runs one configuration with our builder (in the child process). */
function runOurs (config: Config): BuilderResult {
  const params: BuildParams = { partPower: config.partPower, replicas: 3, minPartHours: 0, overload: 0, seed: 1 }
  const devices: DeviceSpec[] = []
  for (let i = 0; i < config.devices; i++) {
    const host = Math.floor(i / DISKS_PER_HOST)
    devices.push(device(host, host % config.zones, i % DISKS_PER_HOST))
  }
  const hosts = Math.ceil(config.devices / DISKS_PER_HOST)
  const cpu = process.cpuUsage()
  const initial = rebalance({ params, devices, now: 0 }, () => performance.now())
  const cpuUsed = process.cpuUsage(cpu)
  const encodeStarted = performance.now()
  encodeRingGz(initial.ring)
  const encodeMs = performance.now() - encodeStarted
  const out: BuilderResult = {
    builder: 'ringleader',
    initial: { ms: initial.report.ms, cpuMs: (cpuUsed.user + cpuUsed.system) / 1000, encodeMs, balance: initial.report.balance, dispersion: initial.report.dispersion, peakRssMb: peakRssMb() },
    addDevice: change(initial, params, [...devices, device(hosts, hosts % config.zones, 0)], WEIGHT),
    addZone: { ms: 0, moved: 0, minimum: 0, ratio: 0, balance: 0, dispersion: 0, peakRssMb: 0 }
  }
  const perZone = Math.floor(config.devices / config.zones)
  const zone: DeviceSpec[] = []
  for (let i = 0; i < perZone; i++) zone.push(device(hosts + 1 + Math.floor(i / DISKS_PER_HOST), config.zones, i % DISKS_PER_HOST))
  out.addZone = change(initial, params, [...devices, ...zone], perZone * WEIGHT)
  return out
}

function runChild (command: string, args: string[], builder: string): BuilderResult {
  const started = performance.now()
  const child = spawnSync(command, args, { cwd: repoRoot, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024, timeout: 30 * 60_000 })
  const processMs = performance.now() - started
  const line = child.stdout.trim().split('\n').pop() ?? ''
  try {
    const parsed = JSON.parse(line) as BuilderResult & { error?: string }
    if (parsed.error !== undefined || child.status !== 0) throw new Error(parsed.error ?? `exit ${String(child.status)}`)
    return { ...parsed, builder, processMs }
  } catch (err) {
    const empty: ChangeResult = { ms: NaN, moved: NaN, minimum: NaN, ratio: NaN, balance: NaN, dispersion: NaN, peakRssMb: NaN }
    return { builder, initial: { ...empty }, addDevice: empty, addZone: empty, processMs, error: `${(err as Error).message} ${child.stderr.slice(-500)}` }
  }
}

function pythonForSwift (): string {
  return existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3'
}

const f = (n: number, digits = 2): string => Number.isFinite(n) ? n.toFixed(digits) : 'n/a'
const s = (ms: number): string => Number.isFinite(ms) ? (ms / 1000).toFixed(ms < 1000 ? 3 : 2) : 'n/a'
/** "wall s (cpu s)": on a shared box the CPU time is the steadier figure. */
const t = (r: { ms: number, cpuMs?: number }): string => `${s(r.ms)} s (${r.cpuMs !== undefined ? s(r.cpuMs) : 'n/a'})`

function markdown (rows: Array<{ config: Config, ours: BuilderResult, swift?: BuilderResult }>): string {
  const lines = [
    '| config | builder | initial build, wall (CPU) | peak RSS | balance | dispersion | +1 device: wall (CPU) | moved ÷ min | balance | +1 zone: wall (CPU) | moved ÷ min | balance | dispersion |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|'
  ]
  for (const { config, ours, swift } of rows) {
    for (const r of swift === undefined ? [ours] : [ours, swift]) {
      lines.push(`| 2^${config.partPower} × ${config.devices} devs / ${config.zones} zones | ${r.builder} | ${t(r.initial)} | ${f(r.initial.peakRssMb, 0)} MB | ${f(r.initial.balance, 3)} | ${f(r.initial.dispersion)} | ${t(r.addDevice)} | ${f(r.addDevice.ratio, 3)} | ${f(r.addDevice.balance, 3)} | ${t(r.addZone)} | ${f(r.addZone.ratio, 3)} | ${f(r.addZone.balance, 3)} | ${f(r.addZone.dispersion)} |`)
    }
  }
  return lines.join('\n')
}

/**
 * Irregular clusters (1–2 regions, 1–5 zones, 1–4 hosts per zone, 1–4 disks, equal or
 * random weights, 2^10 partitions × 3): initial-build balance and dispersion, ours
 * against Swift's, each against its own replica plan.
 */
function irregular (): void {
  let a = 11
  const rand = (): number => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const int = (lo: number, hi: number): number => lo + Math.floor(rand() * (hi - lo + 1))
  const cases: Array<{ partPower: number, replicas: number, devices: DeviceSpec[] }> = []
  for (let i = 0; i < 40; i++) {
    const devices: DeviceSpec[] = []
    let host = 0
    for (let r = 0, rs = int(1, 2); r < rs; r++) {
      for (let z = 0, zs = int(1, 5); z < zs; z++) {
        for (let h = 0, hs = int(1, 4); h < hs; h++, host++) {
          for (let d = 0, ds = int(1, 4); d < ds; d++) devices.push({ region: r, zone: z, ip: `10.0.${host}.1`, port: 6200, device: `sd${d}`, weight: i % 2 === 0 ? 100 : int(1, 20) * 10 })
        }
      }
    }
    if (devices.length >= 3) cases.push({ partPower: 10, replicas: 3, devices })
  }
  const swift = spawnSync(pythonForSwift(), [join(repoRoot, 'bench', 'swift-ring-bench.py'), '--cases-stdin'], { input: JSON.stringify(cases), encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 })
  const theirs = JSON.parse(swift.stdout) as Array<{ balance: number, dispersion: number }>
  const rows = cases.map((c, i) => {
    const ours = rebalance({ params: { partPower: c.partPower, replicas: c.replicas, minPartHours: 0, overload: 0, seed: 1 }, devices: c.devices, now: 0 }).report
    return { devices: c.devices.length, ours: { balance: ours.balance, dispersion: ours.dispersion }, swift: theirs[i] }
  })
  const summary = {
    cases: rows.length,
    oursBetterBalance: rows.filter(r => r.ours.balance < r.swift.balance - 0.01).length,
    oursWorseBalance: rows.filter(r => r.ours.balance > r.swift.balance + 0.01).length,
    oursDispersed: rows.filter(r => r.ours.dispersion > 0).length,
    swiftDispersed: rows.filter(r => r.swift.dispersion > 0).length
  }
  process.stdout.write(JSON.stringify({ bench: 'ring-irregular', summary, rows }, null, 2) + '\n')
}

function main (): void {
  const argv = process.argv.slice(2)
  if (argv.includes('--irregular')) { irregular(); return }
  const childAt = argv.indexOf('--child')
  if (childAt >= 0) {
    const [partPower, devices, zones] = (argv[childAt + 1] ?? '').split(',').map(Number)
    process.stdout.write(JSON.stringify(runOurs({ partPower, devices, zones })) + '\n')
    return
  }
  const configs = argv.includes('--quick') ? QUICK : FULL
  const withSwift = !argv.includes('--no-swift')
  const rows: Array<{ config: Config, ours: BuilderResult, swift?: BuilderResult, speedup?: Record<string, number> }> = []
  for (const config of configs) {
    const spec = `${config.partPower},${config.devices},${config.zones}`
    const ours = runChild(process.execPath, [fileURLToPath(import.meta.url), '--child', spec], 'ringleader')
    const row: typeof rows[number] = { config, ours }
    if (withSwift) {
      row.swift = runChild(pythonForSwift(), [join(repoRoot, 'bench', 'swift-ring-bench.py'), '--part-power', String(config.partPower), '--devices', String(config.devices), '--zones', String(config.zones)], 'swift 2.30')
      row.speedup = {
        initial: row.swift.initial.ms / ours.initial.ms,
        addDevice: row.swift.addDevice.ms / ours.addDevice.ms,
        addZone: row.swift.addZone.ms / ours.addZone.ms,
        process: (row.swift.processMs ?? NaN) / (ours.processMs ?? NaN)
      }
    }
    rows.push(row)
    process.stderr.write(`done 2^${config.partPower} × ${config.devices}\n`)
  }
  process.stdout.write(JSON.stringify({ bench: 'ring', quick: configs === QUICK, results: rows }, null, 2) + '\n')
  process.stderr.write(markdown(rows) + '\n')
}

main()
