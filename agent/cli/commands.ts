// agent commands: the socket commands the running agent answers, with arguments.
import { parseArgs } from 'node:util'
import { callAgent } from '../socket/client.js'
import type { CommandHelp } from '../socket/registry.js'
import { CLIENT_OPTIONS, CLIENT_OPTIONS_HELP, socketPathFor, usageOnError, withExitCodes } from './client-command.js'
import { EXIT } from './exit-codes.js'
import type { Io, Subcommand } from './io.js'
import { formatTable } from './table.js'

export const commandsCommand: Subcommand = {
  name: 'commands',
  summary: "List the running agent's socket commands and their arguments",
  usage: `Usage: agent commands [--data-dir DIR] [--json]

Asks the running agent for its socket command registry ("help" on the socket):
each command, whether it streams, and its arguments with their types.

${CLIENT_OPTIONS_HELP}
`,
  async run (argv: string[], io: Io): Promise<number> {
    let dataDir: string | undefined
    return await withExitCodes('commands', io, () => dataDir, async () => {
      const { values } = usageOnError(() => parseArgs({ args: argv, options: CLIENT_OPTIONS, strict: true, allowPositionals: false }))
      if (values.help === true) { io.stdout(commandsCommand.usage); return EXIT.ok }
      const target = socketPathFor(values['data-dir'])
      dataDir = target.dataDir
      const list = await callAgent(target.socket, 'help') as CommandHelp[]
      if (values.json === true) {
        io.stdout(JSON.stringify(list, null, 2) + '\n')
      } else {
        io.stdout(formatTable(['command', 'arguments', 'summary'], list.map(c => [
          c.name + (c.stream ? ' (stream)' : ''),
          c.args.length === 0 ? '-' : c.args.map(a => `${a.name}${a.required ? '' : '?'}:${a.type}`).join(' '),
          c.summary
        ])))
      }
      return EXIT.ok
    })
  }
}
