// Where a subcommand writes; tests and the ring CLI pass their own.
export interface Io {
  stdout: (s: string) => void
  stderr: (s: string) => void
}

export const processIo: Io = {
  stdout: s => { process.stdout.write(s) },
  stderr: s => { process.stderr.write(s) }
}

export interface Subcommand {
  name: string
  summary: string
  /** Full --help text. */
  usage: string
  run: (argv: string[], io: Io) => Promise<number>
}
