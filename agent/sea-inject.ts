// Puts a Node single-executable-application blob into a copy of the node binary
// (Linux x86-64/arm64 ELF), doing the one job `postject` would do, so that
// `npm run package` needs no extra dependency on Node 20.
//
// Node finds the blob with postject's lookup: it walks the running executable's
// PT_NOTE program headers (at load address + p_vaddr) for a note named
// "NODE_SEA_BLOB", and only looks at all once the fuse string
// NODE_SEA_FUSE_…:0 in .rodata has been flipped to :1. So the note must be in
// memory (inside a PT_LOAD) and named by a PT_NOTE header. The program header
// table has no spare slots, so we:
//   1. extend the last PT_LOAD (the RW data segment): its .bss tail becomes
//      explicit zero bytes in the file and the note follows right after it;
//   2. point the existing PT_NOTE header (build-id/ABI tag, which nothing needs
//      at run time) at the new note;
//   3. drop the section header table — it described the file tail we replaced
//      and is not used to run a program;
//   4. flip the fuse.

const NOTE_NAME = 'NODE_SEA_BLOB'
export const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2'

const PT_LOAD = 1
const PT_NOTE = 4
const PF_R = 4

export class SeaInjectError extends Error {
  readonly code = 'ERR_SEA_INJECT'
  constructor (message: string) {
    super(message)
    this.name = 'SeaInjectError'
  }
}

interface Phdr { index: number, type: number, offset: bigint, vaddr: bigint, filesz: bigint, memsz: bigint }

function align (n: bigint, to: bigint): bigint {
  return (n + to - 1n) / to * to
}

function readPhdrs (elf: Buffer): { phoff: number, phentsize: number, phdrs: Phdr[] } {
  if (elf.length < 64 || elf.readUInt32BE(0) !== 0x7f454c46) throw new SeaInjectError('not an ELF file')
  if (elf[4] !== 2 || elf[5] !== 1) throw new SeaInjectError('only 64-bit little-endian ELF is supported')
  const type = elf.readUInt16LE(16)
  if (type !== 2 && type !== 3) throw new SeaInjectError(`ELF type ${type} is not an executable`)
  const phoff = Number(elf.readBigUInt64LE(0x20))
  const phentsize = elf.readUInt16LE(0x36)
  const phnum = elf.readUInt16LE(0x38)
  if (phentsize < 56 || phoff + phentsize * phnum > elf.length) throw new SeaInjectError('bad program header table')
  const phdrs: Phdr[] = []
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize
    phdrs.push({
      index: i,
      type: elf.readUInt32LE(at),
      offset: elf.readBigUInt64LE(at + 8),
      vaddr: elf.readBigUInt64LE(at + 16),
      filesz: elf.readBigUInt64LE(at + 32),
      memsz: elf.readBigUInt64LE(at + 40)
    })
  }
  return { phoff, phentsize, phdrs }
}

function buildNote (blob: Uint8Array): Buffer {
  const name = Buffer.from(NOTE_NAME + '\0')
  const nameLen = Number(align(BigInt(name.length), 4n))
  const descLen = Number(align(BigInt(blob.length), 4n))
  const note = Buffer.alloc(12 + nameLen + descLen)
  note.writeUInt32LE(name.length, 0)
  note.writeUInt32LE(blob.length, 4)
  note.writeUInt32LE(0, 8)
  name.copy(note, 12)
  note.set(blob, 12 + nameLen)
  return note
}

/** Returns a new executable image: `node` with `blob` injected and the SEA fuse flipped. */
export function injectSeaBlob (node: Buffer, blob: Uint8Array): Buffer {
  const { phoff, phentsize, phdrs } = readPhdrs(node)
  const loads = phdrs.filter(p => p.type === PT_LOAD)
  if (loads.length === 0) throw new SeaInjectError('no PT_LOAD segment')
  const last = loads.reduce((a, b) => (b.vaddr > a.vaddr ? b : a))
  const lastFileEnd = last.offset + last.filesz
  if (loads.some(p => p.offset + p.filesz > lastFileEnd)) throw new SeaInjectError('the highest PT_LOAD does not end last in the file')
  const notePh = phdrs.find(p => p.type === PT_NOTE)
  if (notePh === undefined) throw new SeaInjectError('no PT_NOTE header to reuse')

  const fuse = Buffer.from(`${SEA_FUSE}:0`)
  const fuseAt = node.indexOf(fuse)
  if (fuseAt === -1) {
    throw new SeaInjectError(node.includes(Buffer.from(`${SEA_FUSE}:1`)) ? 'this binary already has a SEA blob' : 'no SEA fuse: this node build does not support single executables')
  }
  if (node.indexOf(fuse, fuseAt + 1) !== -1) throw new SeaInjectError('the SEA fuse occurs twice')
  if (BigInt(fuseAt) >= lastFileEnd) throw new SeaInjectError('the SEA fuse is not in a loaded segment')

  const note = buildNote(blob)
  const noteVaddr = align(last.vaddr + last.memsz, 8n)
  const noteOffset = last.offset + (noteVaddr - last.vaddr)
  const total = Number(noteOffset) + note.length
  const out = Buffer.alloc(total) // zero-filled: the former .bss stays zero
  node.copy(out, 0, 0, Number(lastFileEnd))
  note.copy(out, Number(noteOffset))

  const segSize = BigInt(total) - last.offset
  const lastAt = phoff + last.index * phentsize
  out.writeBigUInt64LE(segSize, lastAt + 32)
  out.writeBigUInt64LE(segSize, lastAt + 40)

  const noteAt = phoff + notePh.index * phentsize
  out.writeUInt32LE(PT_NOTE, noteAt)
  out.writeUInt32LE(PF_R, noteAt + 4)
  out.writeBigUInt64LE(noteOffset, noteAt + 8)
  out.writeBigUInt64LE(noteVaddr, noteAt + 16)
  out.writeBigUInt64LE(noteVaddr, noteAt + 24)
  out.writeBigUInt64LE(BigInt(note.length), noteAt + 32)
  out.writeBigUInt64LE(BigInt(note.length), noteAt + 40)
  out.writeBigUInt64LE(4n, noteAt + 48)

  // No section headers: e_shoff, e_shnum, e_shstrndx.
  out.writeBigUInt64LE(0n, 0x28)
  out.writeUInt16LE(0, 0x3c)
  out.writeUInt16LE(0, 0x3e)

  out.write('1', fuseAt + fuse.length - 1, 'latin1')
  return out
}
