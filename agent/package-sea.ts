// npm run package: build the shippable agent.
//
//   dist/agent        one self-contained executable: a copy of this node binary with
//                     the bundled agent injected as a single-executable-application
//                     (SEA) blob. Needs nothing else on the host.
//   dist/agent.mjs    the agent bundled into one ESM file by esbuild
//   dist/agent-node   a sh launcher running agent.mjs with the node on PATH; it uses
//                     less memory than the SEA (docs/benchmarks.md), so the Docker
//                     image runs this one
//
// Node 20 makes the SEA blob (`node --experimental-sea-config`) but has no tool to
// put it into the binary; postject would, and it is not a dependency. sea-inject.ts
// does that step for Linux ELF. Where it cannot (another OS, a node without the SEA
// fuse), dist/agent becomes a copy of the launcher and the result says why.
// Run from the repository root after `npm run build`:  node build/agent/package-sea.js [OUT_DIR]
import { build } from 'esbuild'
import { execFile } from 'node:child_process'
import { chmod, mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { injectSeaBlob } from './sea-inject.js'
import { AGENT_ENV, AGENT_NODE_FLAGS } from './node-flags.js'

const run = promisify(execFile)
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')

export interface PackageResult {
  bundle: string
  launcher: string
  /** dist/agent: the single executable, or a copy of the launcher when sea is false. */
  executable: string
  sea: boolean
  /** Why dist/agent is not a single executable (when sea is false). */
  seaProblem?: string
  bundleBytes: number
  executableBytes: number
}

const LAUNCHER = `#!/bin/sh
# Ringleader agent launcher: runs the bundled agent with the node on PATH (>= 20.11).
here=$(dirname "$(readlink -f "$0")")
${Object.entries(AGENT_ENV).map(([k, v]) => `export ${k}="\${${k}:-${v}}"`).join('\n')}
exec "\${RINGLEADER_NODE:-node}" ${AGENT_NODE_FLAGS.join(' ')} "$here/agent.mjs" "$@"
`

async function bundle (outfile: string, format: 'esm' | 'cjs', version: string): Promise<void> {
  await build({
    entryPoints: [join(ROOT, 'build/agent/cli.js')],
    outfile,
    bundle: true,
    platform: 'node',
    format,
    target: 'node20',
    // CommonJS dependencies inside an ESM bundle still call require().
    banner: format === 'esm' ? { js: "import { createRequire as __rlCreateRequire } from 'node:module'; const require = __rlCreateRequire(import.meta.url);" } : undefined,
    define: { RINGLEADER_BUNDLED_VERSION: JSON.stringify(version) },
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
  })
}

async function writeExecutable (path: string, data: Uint8Array | string): Promise<void> {
  const temp = `${path}.tmp-${process.pid}`
  await writeFile(temp, data, { mode: 0o755 })
  await chmod(temp, 0o755)
  await rename(temp, path)
}

/** Builds the SEA into `target`; returns a reason instead when it cannot. */
async function buildSea (target: string, version: string): Promise<string | undefined> {
  const work = await mkdtemp(join(tmpdir(), 'rl-sea-'))
  try {
    const main = join(work, 'agent.cjs')
    const blob = join(work, 'agent.blob')
    // Node 20's SEA runs one CommonJS script.
    await bundle(main, 'cjs', version)
    await writeFile(join(work, 'sea-config.json'), JSON.stringify({ main, output: blob, disableExperimentalSEAWarning: true }))
    await run(process.execPath, ['--experimental-sea-config', join(work, 'sea-config.json')], { cwd: work })
    let image: Buffer
    try {
      image = injectSeaBlob(await readFile(process.execPath), await readFile(blob))
    } catch (err) {
      return `cannot inject into ${process.execPath}: ${(err as Error).message}`
    }
    await writeExecutable(target, image)
    const { stdout } = await run(target, ['--version'], { timeout: 20_000 })
    if (stdout.trim() !== version) return `the built executable printed ${JSON.stringify(stdout.trim())} for --version`
    return undefined
  } catch (err) {
    return (err as Error).message
  } finally {
    await rm(work, { recursive: true, force: true })
  }
}

export async function packageAgent (outDir: string, opts: { sea?: boolean } = {}): Promise<PackageResult> {
  await mkdir(outDir, { recursive: true })
  const { version } = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string }
  const bundlePath = join(outDir, 'agent.mjs')
  await bundle(bundlePath, 'esm', version)
  const launcher = join(outDir, 'agent-node')
  await writeExecutable(launcher, LAUNCHER)

  const executable = join(outDir, 'agent')
  const seaProblem = opts.sea === false ? 'skipped (sea: false)' : await buildSea(executable, version)
  if (seaProblem !== undefined) await writeExecutable(executable, LAUNCHER)
  return {
    bundle: bundlePath,
    launcher,
    executable,
    sea: seaProblem === undefined,
    ...(seaProblem !== undefined ? { seaProblem } : {}),
    bundleBytes: (await stat(bundlePath)).size,
    executableBytes: (await stat(executable)).size
  }
}

const isMain = process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)
if (isMain) {
  const outDir = resolve(process.argv[2] ?? join(ROOT, 'dist'))
  packageAgent(outDir).then(r => {
    process.stdout.write(JSON.stringify(r, null, 2) + '\n')
    if (!r.sea) process.stderr.write(`package: dist/agent is the launcher, not a single executable: ${r.seaProblem ?? ''}\n`)
  }, (err: unknown) => {
    process.stderr.write(`package: ${(err as Error).message}\n`)
    process.exitCode = 1
  })
}
