// agent status: what the local agent is, where it listens and whether it is ready.
import { parseArgs } from 'node:util'
import type { MapStatus } from '../map-service.js'
import { callAgent } from '../socket/client.js'
import { CLIENT_OPTIONS, CLIENT_OPTIONS_HELP, socketPathFor, usageOnError, withExitCodes } from './client-command.js'
import { EXIT } from './exit-codes.js'
import type { Io, Subcommand } from './io.js'
import { formatDuration, formatKeyValues } from './table.js'

const CORE = new Set(['nodeId', 'state', 'listen', 'uptimeMs', 'version', 'pid', 'dataDir', 'startedAt'])
const HIDDEN = new Set(['map', 'bootstrap', 'membership', 'memory'])

/** "epoch 8: 2 of 5 blobs verified, for 12 s", the line an operator reads when a node lags. */
export function formatPending (p: NonNullable<MapStatus['pending']>): string {
  return `epoch ${p.epoch}: ${p.verified} of ${p.blobs} blobs verified, for ${formatDuration(p.sinceMs)}`
}

export function formatStatus (s: Record<string, unknown>): string {
  const rows: Array<[string, unknown]> = [
    ['node id', s.nodeId],
    ['state', s.state],
    ['listen', s.listen],
    ['uptime', typeof s.uptimeMs === 'number' ? formatDuration(s.uptimeMs) : s.uptimeMs],
    ['version', s.version],
    ['pid', s.pid],
    ['data dir', s.dataDir]
  ]
  const map = s.map as Partial<MapStatus> | undefined
  if (map !== undefined) {
    rows.push(['epoch', `${map.epoch ?? 0} installed, newest seen ${map.newestSeen ?? 0}`])
    if (map.pending !== undefined) rows.push(['pending', formatPending(map.pending)])
    rows.push(['coordinator', map.coordinator ?? '-'])
    rows.push(['members by epoch', Object.entries(map.membersByEpoch ?? {}).map(([e, n]) => `epoch ${e}: ${n}`).join(', ')])
  }
  const bootstrap = s.bootstrap as { state: string, epoch?: number, reason?: string } | undefined | null
  if (bootstrap != null) rows.push(['bootstrap', `${bootstrap.state}${bootstrap.epoch !== undefined ? ` (epoch ${bootstrap.epoch})` : ''}${bootstrap.reason !== undefined ? `: ${bootstrap.reason}` : ''}`])
  const mem = s.memory as { rssMb: number, heapUsedMb: number, heapTotalMb: number, arrayBuffersMb: number } | undefined
  if (mem !== undefined) rows.push(['memory', `rss ${mem.rssMb} MB, heap ${mem.heapUsedMb} of ${mem.heapTotalMb} MB, buffers ${mem.arrayBuffersMb} MB`])
  // Counters and internals stay in --json.
  for (const [k, v] of Object.entries(s)) if (!CORE.has(k) && !HIDDEN.has(k)) rows.push([k, v])
  return formatKeyValues(rows)
}

export const statusCommand: Subcommand = {
  name: 'status',
  summary: 'Show the local agent: node id, addresses, state, uptime, version',
  usage: `Usage: agent status [--data-dir DIR] [--json]

Shows the local agent's node id, listen addresses, state (starting|syncing|ready),
uptime, version, pid and data dir. Exit code 3 when no agent is running.

${CLIENT_OPTIONS_HELP}
`,
  async run (argv: string[], io: Io): Promise<number> {
    let dataDir: string | undefined
    return await withExitCodes('status', io, () => dataDir, async () => {
      const { values } = usageOnError(() => parseArgs({ args: argv, options: CLIENT_OPTIONS, strict: true, allowPositionals: false }))
      if (values.help === true) { io.stdout(statusCommand.usage); return EXIT.ok }
      const target = socketPathFor(values['data-dir'])
      dataDir = target.dataDir
      const result = await callAgent(target.socket, 'status') as Record<string, unknown>
      io.stdout(values.json === true ? JSON.stringify(result, null, 2) + '\n' : formatStatus(result))
      return EXIT.ok
    })
  }
}
