// The single executable's main script (dist/agent; package-sea.ts): the agent code
// and its code cache are assets of the executable, run as bundle-loader.ts runs the
// files beside dist/agent.mjs. The executable cannot start node with the launcher's
// flags, so its cache is trained by running the executable itself.
import { createRequire, isBuiltin } from 'node:module'
import { dirname } from 'node:path'
import { getRawAsset } from 'node:sea'
import { CACHE_FILE, CODE_FILE, checkCodeCache, runAgentCode } from './bundle-loader.js'

/** An asset's bytes (a view, not a copy); undefined when the executable has no such asset. */
function asset (name: string): Buffer | undefined {
  try {
    const raw = getRawAsset(name)
    return typeof raw === 'string' ? Buffer.from(raw, 'utf8') : Buffer.from(raw)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_SINGLE_EXECUTABLE_APPLICATION_ASSET_NOT_FOUND') return undefined
    throw err
  }
}

/**
 * Node's own modules only: a self-contained executable must not pick up code from
 * node_modules folders around wherever it is installed. The one optional module the
 * agent asks for (cbor-extract) is then missing, and cbor-x uses its JS decoder.
 */
function builtinRequire (): (id: string) => unknown {
  const load = createRequire(process.execPath)
  return (id) => {
    if (isBuiltin(id)) return load(id)
    throw Object.assign(new Error(`Cannot find module '${id}' (the single executable loads only node's own modules)`), { code: 'MODULE_NOT_FOUND' })
  }
}

try {
  const code = asset(CODE_FILE)
  if (code === undefined) throw new Error(`${process.execPath} has no ${CODE_FILE} asset`)
  runAgentCode({
    code,
    codePath: process.execPath,
    dir: dirname(process.execPath),
    cache: checkCodeCache(code, asset(CACHE_FILE)),
    cacheName: `the ${CACHE_FILE} asset of ${process.execPath}`,
    require: builtinRequire()
  })
} catch (err) {
  process.stderr.write(`agent: ${(err as Error).message}\n`)
  process.exitCode = 1
}
