// Spawning real agent processes for tests. Every wait is bounded; every process
// and temp dir made here is tracked and removed by cleanupAgents() (call it in
// test.after). Agents listen on 127.0.0.1 with an OS-chosen port by default, so
// parallel test files never collide.
//
//   const agent = await startAgent()              // temp data dir, waits for the socket
//   const status = await agent.query('status')     // raw socket request → result
//   const r = await runCli(['status', '--data-dir', agent.dataDir, '--json'])
//   await agent.stop()                             // SIGTERM, waits for exit
//   await cleanupAgents()
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join, dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { callAgent } from '../../agent/socket/client.js'
import { hasStarted } from '../../agent/status-board.js'

/** build/agent/cli.js, from build/test/helpers/. */
export const CLI_PATH = resolve(dirname(fileURLToPath(import.meta.url)), '../../agent/cli.js')

export interface ExitInfo { code: number | null, signal: NodeJS.Signals | null }
export interface CliResult extends ExitInfo { stdout: string, stderr: string }

export interface AgentProcess {
  dataDir: string
  socketPath: string
  child: ChildProcess
  pid: number
  /** Everything the agent has printed so far. */
  output: () => { stdout: string, stderr: string }
  /** One socket request; resolves to `result`, throws AgentCommandError on {ok:false}. */
  query: (cmd: string, args?: Record<string, unknown>, timeoutMs?: number) => Promise<unknown>
  /** Sends `signal` (default SIGTERM) and waits for exit; SIGKILL after timeoutMs. */
  stop: (signal?: NodeJS.Signals, timeoutMs?: number) => Promise<ExitInfo>
  exited: Promise<ExitInfo>
}

export interface StartAgentOptions {
  /** Reuse a data dir (e.g. for restart tests); default a fresh temp dir. */
  dataDir?: string
  /** Extra `agent start` flags. --listen defaults to /ip4/127.0.0.1/tcp/0. */
  args?: string[]
  env?: Record<string, string>
  readyTimeoutMs?: number
}

const children = new Set<ChildProcess>()
const tempDirs = new Set<string>()

/** A fresh temp dir (short path: unix socket paths are limited to ~100 bytes). */
export async function makeTempDir (prefix = 'rl-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  tempDirs.add(dir)
  return dir
}

/** The test's environment without any RINGLEADER_* from the caller's shell. */
function cleanEnv (extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('RINGLEADER_')) env[k] = v
  return { ...env, ...extra }
}

function track (child: ChildProcess): { exited: Promise<ExitInfo>, out: { stdout: string, stderr: string } } {
  children.add(child)
  const out = { stdout: '', stderr: '' }
  child.stdout?.setEncoding('utf8').on('data', (s: string) => { out.stdout += s })
  child.stderr?.setEncoding('utf8').on('data', (s: string) => { out.stderr += s })
  const exited = new Promise<ExitInfo>(resolve => {
    child.once('close', (code, signal) => { children.delete(child); resolve({ code, signal }) })
  })
  return { exited, out }
}

/** Runs the CLI to completion (SIGKILL after timeoutMs, default 20 s). */
export async function runCli (args: string[], opts: { env?: Record<string, string>, timeoutMs?: number } = {}): Promise<CliResult> {
  const child = spawn(process.execPath, [CLI_PATH, ...args], { env: cleanEnv(opts.env), stdio: ['ignore', 'pipe', 'pipe'] })
  const { exited, out } = track(child)
  const timer = setTimeout(() => { child.kill('SIGKILL') }, opts.timeoutMs ?? 20_000)
  const info = await exited
  clearTimeout(timer)
  return { ...info, ...out }
}

/** Polls `check` every intervalMs until it returns a value other than undefined/false, or throws on timeout. */
export async function waitFor<T> (what: string, check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 10_000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let lastError: unknown
  while (Date.now() < deadline) {
    try {
      const v = await check()
      if (v !== undefined && v !== false) return v
    } catch (err) { lastError = err }
    await new Promise(resolve => setTimeout(resolve, intervalMs))
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError !== undefined ? ` (last error: ${(lastError as Error).message})` : ''}`)
}

/** Starts `agent start` and waits until `status` over its socket shows a node id and a state past `starting`. */
export async function startAgent (opts: StartAgentOptions = {}): Promise<AgentProcess> {
  const dataDir = opts.dataDir ?? join(await makeTempDir(), 'data')
  const socketPath = join(dataDir, 'agent.sock')
  const extra = opts.args ?? []
  const listen = extra.includes('--listen') ? [] : ['--listen', '/ip4/127.0.0.1/tcp/0']
  const child = spawn(process.execPath, ['--enable-source-maps', CLI_PATH, 'start', '--data-dir', dataDir, ...listen, ...extra], {
    env: cleanEnv(opts.env),
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const { exited, out } = track(child)
  let exitInfo: ExitInfo | undefined
  void exited.then(info => { exitInfo = info })

  const stop = async (signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 10_000): Promise<ExitInfo> => {
    if (exitInfo === undefined) child.kill(signal)
    const timer = setTimeout(() => { child.kill('SIGKILL') }, timeoutMs)
    const info = await exited
    clearTimeout(timer)
    return info
  }
  const agent: AgentProcess = {
    dataDir,
    socketPath,
    child,
    pid: child.pid ?? -1,
    output: () => ({ ...out }),
    query: async (cmd, args = {}, timeoutMs = 5_000) => await callAgent(socketPath, cmd, args, { timeoutMs }),
    stop,
    exited
  }
  try {
    await waitFor('the agent socket', async () => {
      if (exitInfo !== undefined) throw new Error(`agent exited early (${JSON.stringify(exitInfo)}): ${out.stderr.slice(-2000)}`)
      // The socket binds before the libp2p node and the components start; wait until they have.
      const status = await agent.query('status', {}, 1_000) as { nodeId?: unknown, state?: unknown }
      return hasStarted(status) ? status : undefined
    }, opts.readyTimeoutMs ?? 15_000)
  } catch (err) {
    if (exitInfo !== undefined) throw new Error(`agent exited early (code ${exitInfo.code}): ${out.stderr.slice(-2000)}`)
    await stop('SIGKILL')
    throw err
  }
  return agent
}

/** A TCP port that was free a moment ago (for tests that need a fixed --listen). */
export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0
      srv.close(() => { resolve(port) })
    })
  })
}

/** Kills every process started here (SIGKILL after 5 s) and removes every temp dir. */
export async function cleanupAgents (): Promise<void> {
  await Promise.all([...children].map(async child => {
    const done = new Promise<void>(resolve => { child.once('close', () => { resolve() }) })
    child.kill('SIGTERM')
    const timer = setTimeout(() => { child.kill('SIGKILL') }, 5_000)
    await done
    clearTimeout(timer)
  }))
  await Promise.all([...tempDirs].map(async dir => { await rm(dir, { recursive: true, force: true }) }))
  tempDirs.clear()
}
