// agent logs: follow the running agent's log records over the socket.
import { parseArgs } from 'node:util'
import { streamAgent } from '../socket/client.js'
import { formatRecord, type LogRecord } from '../log.js'
import { CLIENT_OPTIONS, CLIENT_OPTIONS_HELP, socketPathFor, usageOnError, withExitCodes } from './client-command.js'
import { EXIT } from './exit-codes.js'
import type { Io, Subcommand } from './io.js'

export const logsCommand: Subcommand = {
  name: 'logs',
  summary: "Follow the running agent's log records until Ctrl-C",
  usage: `Usage: agent logs [--level debug|info|warn|error] [--data-dir DIR] [--json]

Streams log records from the running agent as they are written, at --level and
above (default info), whatever level the agent itself prints. logfmt by default,
JSON lines with --json. Stops on Ctrl-C or when the agent exits.

  --level LEVEL    lowest level to show
${CLIENT_OPTIONS_HELP}
`,
  async run (argv: string[], io: Io): Promise<number> {
    let dataDir: string | undefined
    return await withExitCodes('logs', io, () => dataDir, async () => {
      const options = { ...CLIENT_OPTIONS, level: { type: 'string' } } as const
      const { values } = usageOnError(() => parseArgs({ args: argv, options, strict: true, allowPositionals: false }))
      if (values.help === true) { io.stdout(logsCommand.usage); return EXIT.ok }
      const target = socketPathFor(values['data-dir'])
      dataDir = target.dataDir
      const stop = new AbortController()
      const onSignal = (): void => { stop.abort() }
      process.once('SIGINT', onSignal)
      try {
        await streamAgent(target.socket, 'logs', values.level === undefined ? {} : { level: values.level }, event => {
          io.stdout(formatRecord(event as LogRecord, values.json === true ? 'json' : 'logfmt') + '\n')
        }, { signal: stop.signal })
      } finally {
        process.off('SIGINT', onSignal)
      }
      return EXIT.ok
    })
  }
}
