// npm run package: build the shippable agent.
//
//   dist/agent        one self-contained executable: a copy of this node binary with
//                     the agent injected as a single-executable-application (SEA)
//                     blob: sea-main.ts, with the agent code and a code cache
//                     trained by running the executable itself as assets. Needs
//                     nothing else on the host.
//   dist/agent.mjs    the bundle's entry (bundle-main.ts): compiles and runs
//   dist/agent-code.cjs   the agent bundled into one CommonJS file by esbuild, with
//   dist/agent-code.cache the V8 code cache a short training cluster made for it
//                     (code-cache.ts, code-cache-training.ts)
//   dist/agent-node   a sh launcher running agent.mjs with the node on PATH; it uses
//                     less memory than the SEA (docs/benchmarks.md), so the Docker
//                     image runs this one
//
// Node 20 makes the SEA blob (`node --experimental-sea-config`) but has no tool to
// put it into the binary; postject would, and it is not a dependency. sea-inject.ts
// does that step for Linux ELF. Where it cannot (another OS, a node without the SEA
// fuse), dist/agent becomes a copy of the launcher and the result says why.
// Run from the repository root after `npm run build`:  node build/agent/package-sea.js [OUT_DIR]
import { build, type BuildOptions } from 'esbuild'
import { execFile } from 'node:child_process'
import { chmod, mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { injectSeaBlob } from './sea-inject.js'
import { AGENT_ENV, AGENT_NODE_FLAGS } from './node-flags.js'
import { CACHE_FILE, CODE_FILE, CODE_PREFIX, CODE_SUFFIX } from './bundle-loader.js'
import { trainCodeCache } from './code-cache-training.js'

const run = promisify(execFile)
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')

export interface PackageResult {
  /** dist/agent.mjs, the entry. */
  bundle: string
  /** dist/agent-code.cjs, the agent code it runs. */
  code: string
  launcher: string
  /** dist/agent: the single executable, or a copy of the launcher when sea is false. */
  executable: string
  sea: boolean
  /** Why dist/agent is not a single executable (when sea is false). */
  seaProblem?: string
  /** Size of the agent code. */
  bundleBytes: number
  executableBytes: number
  /** Bytes of dist/agent-code.cache, or 0 without one. */
  codeCacheBytes: number
  /** Why there is no code cache (training failed or was skipped). */
  codeCacheProblem?: string
  /** Bytes of the single executable's own code cache asset, or 0. */
  seaCodeCacheBytes: number
  /** Why the single executable has no code cache. */
  seaCodeCacheProblem?: string
}

const LAUNCHER = `#!/bin/sh
# Ringleader agent launcher: runs the bundled agent with the node on PATH (>= 20.11).
here=$(dirname "$(readlink -f "$0")")
${Object.entries(AGENT_ENV).map(([k, v]) => `export ${k}="\${${k}:-${v}}"`).join('\n')}
exec "\${RINGLEADER_NODE:-node}" ${AGENT_NODE_FLAGS.join(' ')} "$here/agent.mjs" "$@"
`

const BUNDLE_OPTIONS: BuildOptions = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  // cbor-x's optional native decoder: cbor-x falls back to plain JS without it.
  external: ['cbor-extract'],
  // Without comments and indentation the bundle is ASCII and a third smaller. V8
  // keeps a script's whole source in the heap for lazy compilation, and a single
  // non-ASCII character (18 comment lines had one) stores all of it as UTF-16:
  // 2.3 M characters took 4.7 MB of every agent's heap, now 1.6 MB (a lone
  // agent's RSS 63.6 → 60.6 MB). Names are kept, so stack traces still read.
  minifyWhitespace: true,
  legalComments: 'eof',
  logLevel: 'error'
}

/** The agent as one CommonJS script (bundleWithLoader wraps it; the SEA carries the same file). */
async function bundleCommonJs (version: string): Promise<string> {
  const out = await build({
    ...BUNDLE_OPTIONS,
    entryPoints: [join(ROOT, 'build/agent/cli.js')],
    format: 'cjs',
    define: { RINGLEADER_BUNDLED_VERSION: JSON.stringify(version) },
    write: false
  })
  const text = out.outputFiles?.[0]?.text
  if (text === undefined) throw new Error('esbuild wrote no output')
  return text.replace(/^#!.*\n/, '')
}

/** dist/agent.mjs (the loader) and dist/agent-code.cjs (the agent in its module wrapper; bundle-loader.ts). */
async function bundleWithLoader (outDir: string, code: string): Promise<void> {
  await writeFile(join(outDir, CODE_FILE), CODE_PREFIX + code + CODE_SUFFIX)
  await build({ ...BUNDLE_OPTIONS, entryPoints: [join(ROOT, 'build/agent/bundle-main.js')], format: 'esm', outfile: join(outDir, 'agent.mjs') })
}

async function writeExecutable (path: string, data: Uint8Array | string): Promise<void> {
  const temp = `${path}.tmp-${process.pid}`
  await writeFile(temp, data, { mode: 0o755 })
  await chmod(temp, 0o755)
  await rename(temp, path)
}

interface SeaOutcome {
  /** Why there is no single executable. */
  problem?: string
  cacheBytes: number
  /** Why it has no code cache. */
  cacheProblem?: string
}

/**
 * Builds the single executable into `target`: sea-main.ts as its main script, the
 * agent code in `dir` as an asset and, when `train`, a code cache as a second
 * asset, made by running the executable built without it (it cannot take the
 * launcher's node flags, so the bundle's cache would be refused).
 */
async function buildSea (target: string, version: string, dir: string, train: boolean): Promise<SeaOutcome> {
  const work = await mkdtemp(join(tmpdir(), 'rl-sea-'))
  try {
    // Node 20's SEA runs one CommonJS script.
    const main = join(work, 'sea-main.cjs')
    await build({ ...BUNDLE_OPTIONS, entryPoints: [join(ROOT, 'build/agent/sea-main.js')], format: 'cjs', outfile: main })
    const node = await readFile(process.execPath)
    const assemble = async (assets: Record<string, string>): Promise<string | undefined> => {
      const blob = join(work, 'agent.blob')
      const config = join(work, 'sea-config.json')
      await writeFile(config, JSON.stringify({ main, output: blob, disableExperimentalSEAWarning: true, assets }))
      await run(process.execPath, ['--experimental-sea-config', config], { cwd: work })
      let image: Buffer
      try {
        image = injectSeaBlob(node, await readFile(blob))
      } catch (err) {
        return `cannot inject into ${process.execPath}: ${(err as Error).message}`
      }
      await writeExecutable(target, image)
      const { stdout } = await run(target, ['--version'], { timeout: 20_000 })
      if (stdout.trim() !== version) return `the built executable printed ${JSON.stringify(stdout.trim())} for --version`
      return undefined
    }
    const assets = { [CODE_FILE]: join(dir, CODE_FILE) }
    const problem = await assemble(assets)
    if (problem !== undefined) return { problem, cacheBytes: 0 }
    if (!train) return { cacheBytes: 0, cacheProblem: 'skipped (codeCache: false)' }
    const cache = join(work, CACHE_FILE)
    let cacheBytes: number
    try {
      cacheBytes = await trainCodeCache(dir, { command: [target], target: cache })
    } catch (err) {
      return { cacheBytes: 0, cacheProblem: (err as Error).message }
    }
    const again = await assemble({ ...assets, [CACHE_FILE]: cache })
    return again !== undefined ? { problem: again, cacheBytes: 0 } : { cacheBytes }
  } catch (err) {
    return { problem: (err as Error).message, cacheBytes: 0 }
  } finally {
    await rm(work, { recursive: true, force: true })
  }
}

export async function packageAgent (outDir: string, opts: { sea?: boolean, codeCache?: boolean } = {}): Promise<PackageResult> {
  await mkdir(outDir, { recursive: true })
  const { version } = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string }
  const code = await bundleCommonJs(version)
  await bundleWithLoader(outDir, code)
  const launcher = join(outDir, 'agent-node')
  await writeExecutable(launcher, LAUNCHER)

  let codeCacheBytes = 0
  let codeCacheProblem: string | undefined = 'skipped (codeCache: false)'
  if (opts.codeCache !== false) {
    try {
      codeCacheBytes = await trainCodeCache(outDir)
      codeCacheProblem = undefined
    } catch (err) {
      codeCacheProblem = (err as Error).message
    }
  }

  const executable = join(outDir, 'agent')
  const sea: SeaOutcome = opts.sea === false ? { problem: 'skipped (sea: false)', cacheBytes: 0 } : await buildSea(executable, version, outDir, opts.codeCache !== false)
  const seaProblem = sea.problem
  if (seaProblem !== undefined) await writeExecutable(executable, LAUNCHER)
  return {
    bundle: join(outDir, 'agent.mjs'),
    code: join(outDir, CODE_FILE),
    launcher,
    executable,
    sea: seaProblem === undefined,
    ...(seaProblem !== undefined ? { seaProblem } : {}),
    bundleBytes: (await stat(join(outDir, CODE_FILE))).size,
    executableBytes: (await stat(executable)).size,
    codeCacheBytes,
    ...(codeCacheProblem !== undefined ? { codeCacheProblem } : {}),
    seaCodeCacheBytes: sea.cacheBytes,
    ...(seaProblem === undefined && sea.cacheProblem !== undefined ? { seaCodeCacheProblem: sea.cacheProblem } : {})
  }
}

const isMain = process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)
if (isMain) {
  const outDir = resolve(process.argv[2] ?? join(ROOT, 'dist'))
  packageAgent(outDir).then(r => {
    process.stdout.write(JSON.stringify(r, null, 2) + '\n')
    if (!r.sea) process.stderr.write(`package: dist/agent is the launcher, not a single executable: ${r.seaProblem ?? ''}\n`)
    if (r.codeCacheProblem !== undefined) process.stderr.write(`package: no code cache, the agent compiles as it runs: ${r.codeCacheProblem}\n`)
    if (r.seaCodeCacheProblem !== undefined) process.stderr.write(`package: no code cache in dist/agent: ${r.seaCodeCacheProblem}\n`)
  }, (err: unknown) => {
    process.stderr.write(`package: ${(err as Error).message}\n`)
    process.exitCode = 1
  })
}
