// agent device add|set|remove|list: change this node's Swift devices at run time.
// The agent validates, raises its incarnation and gossips the new metadata.
import { parseArgs } from 'node:util'
import { callAgent } from '../socket/client.js'
import { parseDeviceArg, parseWeight, DeviceError } from '../membership/meta.js'
import { CLIENT_OPTIONS, CLIENT_OPTIONS_HELP, socketPathFor, usageOnError, withExitCodes } from './client-command.js'
import { EXIT, UsageError } from './exit-codes.js'
import type { Io, Subcommand } from './io.js'
import { formatTable } from './table.js'

const USAGE = `Usage: agent device add NAME[:WEIGHT] | set NAME WEIGHT | remove NAME | list  [--data-dir DIR] [--json]

Changes the Swift devices this node announces (weight default 100, >= 0; 0
drains). Names: 1-32 of letters, digits, . _ -. Every change raises this node's
incarnation and is gossiped to the cluster.

${CLIENT_OPTIONS_HELP}
`

function requestFor (positionals: string[]): Record<string, unknown> {
  const [op, ...rest] = positionals
  try {
    switch (op) {
      case 'add': {
        if (rest.length !== 1) throw new UsageError('device add takes one NAME[:WEIGHT]')
        const d = parseDeviceArg(rest[0])
        return { op, name: d.name, weight: d.weight }
      }
      case 'set':
        if (rest.length !== 2) throw new UsageError('device set takes NAME WEIGHT')
        return { op, name: rest[0], weight: parseWeight(rest[1]) }
      case 'remove':
        if (rest.length !== 1) throw new UsageError('device remove takes one NAME')
        return { op, name: rest[0] }
      case 'list':
        if (rest.length !== 0) throw new UsageError('device list takes no arguments')
        return { op }
      default:
        throw new UsageError(`expected add, set, remove or list, got ${JSON.stringify(op ?? '')}`)
    }
  } catch (err) {
    if (err instanceof DeviceError) throw new UsageError(err.message)
    throw err
  }
}

export const deviceCommand: Subcommand = {
  name: 'device',
  summary: "Add, re-weight, remove or list this node's Swift devices",
  usage: USAGE,
  async run (argv: string[], io: Io): Promise<number> {
    let dataDir: string | undefined
    return await withExitCodes('device', io, () => dataDir, async () => {
      const { values, positionals } = usageOnError(() => parseArgs({ args: argv, options: CLIENT_OPTIONS, strict: true, allowPositionals: true }))
      if (values.help === true) { io.stdout(USAGE); return EXIT.ok }
      const request = requestFor(positionals)
      const target = socketPathFor(values['data-dir'])
      dataDir = target.dataDir
      const result = await callAgent(target.socket, 'device', request) as { devices: Array<{ name: string, weight: number }> }
      io.stdout(values.json === true ? JSON.stringify(result, null, 2) + '\n' : formatTable(['device', 'weight'], result.devices.map(d => [d.name, d.weight])))
      return EXIT.ok
    })
  }
}
