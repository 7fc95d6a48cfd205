// npm run package: bundle the agent into one file and wrap it for shipping.
//
//   dist/agent.mjs   every module the agent needs, bundled by esbuild (ESM, Node 20)
//   dist/agent       a tiny sh launcher: exec node dist/agent.mjs "$@"
//
// Node's single-executable-application (SEA) support needs the blob injected into
// a copy of the node binary; on Node 20 only the external `postject` tool does
// that (Node 25 added `node --build-sea`). postject is not a dependency here, so
// when it cannot be resolved we ship the bundle + launcher instead and say so.
// Run from the repository root after `npm run build`.
import { build } from 'esbuild'
import { mkdir, readFile, writeFile, chmod, stat } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { join, resolve, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')

export interface PackageResult { bundle: string, launcher: string, bytes: number, sea: string }

const LAUNCHER = `#!/bin/sh
# Ringleader agent launcher: runs the bundled agent with the node on PATH (>= 20.11).
here=$(dirname "$(readlink -f "$0")")
exec "\${RINGLEADER_NODE:-node}" "$here/agent.mjs" "$@"
`

export async function bundleAgent (outDir: string): Promise<PackageResult> {
  await mkdir(outDir, { recursive: true })
  const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string }
  const bundle = join(outDir, 'agent.mjs')
  await build({
    entryPoints: [join(ROOT, 'build/agent/cli.js')],
    outfile: bundle,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // CommonJS dependencies inside an ESM bundle still call require().
    banner: { js: "import { createRequire as __rlCreateRequire } from 'node:module'; const require = __rlCreateRequire(import.meta.url);" },
    define: { RINGLEADER_BUNDLED_VERSION: JSON.stringify(pkg.version) },
    // cbor-x's optional native decoder: cbor-x falls back to plain JS without it.
    external: ['cbor-extract'],
    legalComments: 'eof',
    logLevel: 'warning'
  })
  const launcher = join(outDir, 'agent')
  await writeFile(launcher, LAUNCHER)
  await chmod(launcher, 0o755)
  return { bundle, launcher, bytes: (await stat(bundle)).size, sea: seaStatus() }
}

function seaStatus (): string {
  try {
    createRequire(import.meta.url).resolve('postject')
    return 'postject is installed, but SEA injection is not wired up yet: shipped bundle + launcher'
  } catch {
    return 'no single executable: Node 20 needs the postject tool to inject the SEA blob and it is not a dependency; shipped bundle + launcher'
  }
}

const isMain = process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)
if (isMain) {
  const outDir = resolve(process.argv[2] ?? join(ROOT, 'dist'))
  bundleAgent(outDir).then(r => {
    process.stdout.write(JSON.stringify(r, null, 2) + '\n')
  }, (err: unknown) => {
    process.stderr.write(`package: ${(err as Error).message}\n`)
    process.exitCode = 1
  })
}
