// How the packaged agent starts (dist/agent.mjs is bundle-main.ts; the single
// executable's main script is sea-main.ts): it compiles the bundled agent code
// (dist/agent-code.cjs, or the executable's asset) with the V8 code cache made for
// it (dist/agent-code.cache, or an asset; see code-cache.ts) and runs it. A missing, damaged or
// foreign cache only costs speed: the code is then compiled as it runs, as before.
//
// The code file is the CommonJS bundle wrapped in a function expression, so that the
// source V8 compiles (and keys the cache on) is exactly the file's bytes.
import { readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { Script, constants } from 'node:vm'
import { CODE_CACHE_STATE_KEY, MAX_CODE_CACHE_BYTES, openCodeCache, sealCodeCache, type CodeCacheState } from './code-cache.js'

/** Files beside dist/agent.mjs, and the names of the same two as assets of the single executable (sea-main.ts). */
export const CODE_FILE = 'agent-code.cjs'
export const CACHE_FILE = 'agent-code.cache'
/** The wrapper the code file starts with (the parameters of a CommonJS module). */
export const CODE_PREFIX = '(function (exports, require, module, __filename, __dirname) {'
export const CODE_SUFFIX = '\n})'
/**
 * Package time only (code-cache-training.ts): a path. On SIGUSR2 the agent writes
 * what it has compiled so far there, sealed, and removes the variable from its
 * environment so nothing it spawns inherits it.
 */
export const TRAINING_ENV = 'RINGLEADER_CODE_CACHE_TRAINING'

type CommonJsWrapper = (exports: unknown, require: (id: string) => unknown, module: { exports: unknown }, filename: string, dirname: string) => void

/** The cache for `code` from `path`, and what to report about it (before V8 has seen it). */
export function readCodeCache (path: string, code: Buffer): { cachedData?: Buffer, state: CodeCacheState } {
  let file: Buffer
  try {
    // Looked at before it is read: a pipe would block the start, a huge file fill memory.
    const stat = statSync(path)
    if (!stat.isFile()) return { state: { state: 'invalid', reason: 'not a regular file' } }
    if (stat.size > MAX_CODE_CACHE_BYTES) return { state: { state: 'invalid', reason: `${stat.size} bytes, more than ${MAX_CODE_CACHE_BYTES}` } }
    file = readFileSync(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { state: { state: 'absent' } }
    return { state: { state: 'invalid', reason: (err as Error).message } }
  }
  return checkCodeCache(code, file)
}

/** What to hand V8 for `code`, from the bytes of a sealed cache (undefined: there is none). */
export function checkCodeCache (code: Buffer, file: Buffer | undefined): { cachedData?: Buffer, state: CodeCacheState } {
  if (file === undefined) return { state: { state: 'absent' } }
  const opened = openCodeCache(code, file)
  if ('reason' in opened) return { state: { state: 'invalid', reason: opened.reason } }
  return { cachedData: opened.payload, state: { state: 'accepted', bytes: opened.payload.byteLength } }
}

/** The agent code and its sealed cache, wherever the package keeps them. */
export interface AgentCodeSource {
  code: Buffer
  /** The code's name in stack traces, and the base of its require(). */
  codePath: string
  dir: string
  /** The cache's reading (readCodeCache), and its name for messages. */
  cache: { cachedData?: Buffer, state: CodeCacheState }
  cacheName: string
  /** The code's require (default: node's, resolving from codePath). */
  require?: (id: string) => unknown
}

/** Compiles and runs the agent code in `dir` (dist/agent.mjs); returns what became of the cache. */
export function runBundledAgent (dir: string, env: NodeJS.ProcessEnv = process.env): CodeCacheState {
  const codePath = join(dir, CODE_FILE)
  const code = readFileSync(codePath)
  const cachePath = join(dir, CACHE_FILE)
  return runAgentCode({ code, codePath, dir, cache: readCodeCache(cachePath, code), cacheName: cachePath }, env)
}

/** Compiles the agent code, with its cache when that checked out, and runs it. */
export function runAgentCode (src: AgentCodeSource, env: NodeJS.ProcessEnv = process.env): CodeCacheState {
  const { code, codePath, dir, cache } = src
  const source = code.toString('utf8')
  if (!source.startsWith(CODE_PREFIX)) throw new Error(`${codePath} is not a packaged agent (it does not start with the module wrapper)`)
  const script = new Script(source, {
    filename: codePath,
    ...(cache.cachedData !== undefined ? { cachedData: cache.cachedData } : {}),
    importModuleDynamically: constants.USE_MAIN_CONTEXT_DEFAULT_LOADER
  })
  let state = cache.state
  if (state.state === 'accepted' && script.cachedDataRejected === true) state = { state: 'rejected', bytes: state.bytes }
  if (state.state === 'invalid') process.stderr.write(`agent: not using ${src.cacheName}: ${state.reason}\n`)
  ;(globalThis as Record<symbol, CodeCacheState>)[CODE_CACHE_STATE_KEY] = state

  const training = env[TRAINING_ENV]
  if (training !== undefined) {
    delete env[TRAINING_ENV]
    process.on('SIGUSR2', () => { writeTrainedCache(training, code, script) })
  }

  const wrapper: unknown = script.runInThisContext()
  if (typeof wrapper !== 'function') throw new Error(`${codePath} did not evaluate to its module function`)
  const module = { exports: {} }
  ;(wrapper as CommonJsWrapper).call(module.exports, module.exports, src.require ?? createRequire(codePath), module, codePath, dir)
  return state
}

/** Seals what this process has compiled and puts it at `path` in one rename. */
function writeTrainedCache (path: string, code: Buffer, script: Script): void {
  const temp = `${path}.tmp-${process.pid}`
  try {
    writeFileSync(temp, sealCodeCache(code, script.createCachedData()), { mode: 0o644 })
    renameSync(temp, path)
  } catch (err) {
    rmSync(temp, { force: true })
    process.stderr.write(`agent: cannot write the code cache to ${path}: ${(err as Error).message}\n`)
  }
}
