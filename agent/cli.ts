#!/usr/bin/env node
// The `agent` binary. The polyfill must be the first import: libp2p needs
// Promise.withResolvers, which Node 20 lacks.
import './polyfill.js'
import { EXIT } from './cli/exit-codes.js'
import { processIo, type Io, type Subcommand } from './cli/io.js'
import { helpCommand, overview } from './cli/help.js'
import { startCommand } from './cli/start.js'
import { statusCommand } from './cli/status.js'
import { commandsCommand } from './cli/commands.js'
import { logsCommand } from './cli/logs.js'
import { devCommand } from './cli/dev.js'
import { ringCommand } from './cli/ring.js'
import { membersCommand, monitorCommand } from './cli/members.js'
import { joinCommand, leaveCommand, forceLeaveCommand } from './cli/join-leave.js'
import { deviceCommand } from './cli/device.js'
import { bootstrapCommand, mapCommand, waitCommand } from './cli/map.js'
import { VERSION } from './version.js'

const commands: Subcommand[] = [
  startCommand, statusCommand, membersCommand, joinCommand, leaveCommand, forceLeaveCommand, monitorCommand, deviceCommand,
  mapCommand, waitCommand, bootstrapCommand, commandsCommand, logsCommand, devCommand, ringCommand
]
commands.push(helpCommand(() => commands))

/** Moves a leading global `--data-dir DIR` (before the command name) after it. */
function hoistGlobalFlags (argv: string[]): string[] {
  const hoisted: string[] = []
  let i = 0
  while (i < argv.length) {
    if (argv[i] === '--data-dir' && i + 1 < argv.length) { hoisted.push(argv[i], argv[i + 1]); i += 2 } else if (argv[i].startsWith('--data-dir=')) { hoisted.push(argv[i]); i += 1 } else break
  }
  const rest = argv.slice(i)
  return rest.length === 0 ? hoisted : [rest[0], ...hoisted, ...rest.slice(1)]
}

export async function main (argv: string[], io: Io = processIo): Promise<number> {
  const args = hoistGlobalFlags(argv)
  const [name, ...rest] = args
  if (name === undefined || name === '--help' || name === '-h') {
    io.stdout(overview(commands))
    return name === undefined ? EXIT.usage : EXIT.ok
  }
  if (name === '--version' || name === 'version') { io.stdout(`${VERSION}\n`); return EXIT.ok }
  const command = commands.find(c => c.name === name)
  if (command === undefined) {
    io.stderr(`agent: unknown command "${name}"\n\n${overview(commands)}`)
    return EXIT.usage
  }
  return await command.run(rest, io)
}

// `agent … | head` closes our stdout early: that is the reader's choice, not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => { if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0) })

main(process.argv.slice(2)).then(code => { process.exitCode = code }, (err: unknown) => {
  process.stderr.write(`agent: ${(err as Error).stack ?? String(err)}\n`)
  process.exitCode = EXIT.agentError
})
