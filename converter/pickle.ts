/**
 * A safe, data-only unpickler (Python pickle protocols 0..5, binary opcodes plus the few text ones
 * that describe plain data).
 *
 * Nothing in a pickle is ever executed. Globals (GLOBAL / STACK_GLOBAL / INST) are resolved through
 * the caller's `resolveGlobal`, which returns a JS stand-in or throws to refuse; the refusal happens
 * when the opcode is read, before anything could be called. REDUCE / NEWOBJ only "call" stand-ins
 * that implement {@link PickleCallable}. INST, OBJ and the extension-registry opcodes are refused.
 *
 * Values: None -> null, bool -> boolean, int -> number (bigint beyond 2^53), float -> number,
 * str -> string, bytes/bytearray -> Uint8Array (copied), list and tuple -> Array, dict -> Map,
 * set/frozenset -> Set.
 */
import { CheckpointError, UnsafePickleError } from './errors.js';

/** A global stand-in that REDUCE / NEWOBJ may call. */
export interface PickleCallable {
  readonly pickleCallable: true;
  /** Python name, for messages. */
  readonly qualname: string;
  call(args: unknown[]): unknown;
}

export function isPickleCallable(v: unknown): v is PickleCallable {
  return typeof v === 'object' && v !== null && (v as PickleCallable).pickleCallable === true;
}

export interface UnpickleOptions {
  /** Byte offset in `bytes` where the pickle starts (default 0). */
  offset?: number;
  /** Returns the stand-in for `module.name`, or throws (an UnsafePickleError) to refuse it. */
  resolveGlobal(module: string, name: string): unknown;
  /** Resolves a persistent id (BINPERSID / PERSID); without it persistent ids are refused. */
  persistentLoad?(pid: unknown): unknown;
}

export interface UnpickleResult {
  value: unknown;
  /** Offset just after the STOP opcode. */
  end: number;
}

/** The pickle runs past the end of the bytes it was given (more bytes may complete it). */
export class PickleTruncatedError extends CheckpointError {
  constructor(readonly needed: number) {
    super(`pickle data ends early (needs at least ${needed} bytes)`);
    this.name = 'PickleTruncatedError';
  }
}

/** Attributes attached to a dict by BUILD (e.g. a state dict's `_metadata`). */
const attributes = new WeakMap<object, unknown>();

/** The state BUILD attached to a dict (for a state dict: `{ _metadata: ... }`), if any. */
export function pickleAttributes(obj: object): unknown {
  return attributes.get(obj);
}

const utf8 = new TextDecoder('utf-8');
const latin1 = new TextDecoder('latin1');

function corrupt(pos: number, what: string): CheckpointError {
  return new CheckpointError(`corrupt pickle at byte ${pos}: ${what}`);
}

function toInt(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/** Little-endian two's complement integer of `bytes` (LONG1 / LONG4 payload). */
function decodeLong(bytes: Uint8Array): number | bigint {
  if (bytes.length === 0) return 0;
  let v = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i]);
  if (bytes[bytes.length - 1] & 0x80) v -= 1n << BigInt(8 * bytes.length);
  return toInt(v);
}

function parseTextInt(text: string, pos: number): number | bigint | boolean {
  const t = text.replace(/L$/, '');
  if (t === '00') return false; // protocol 0 encodes bools as INT 00 / 01
  if (t === '01') return true;
  if (!/^[-+]?\d+$/.test(t)) throw corrupt(pos, `bad integer literal ${JSON.stringify(text)}`);
  return toInt(BigInt(t));
}

export function unpickle(bytes: Uint8Array, options: UnpickleOptions): UnpickleResult {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = options.offset ?? 0;
  let stack: unknown[] = [];
  const metastack: unknown[][] = [];
  const memo = new Map<number, unknown>();

  const need = (n: number): void => {
    if (pos + n > bytes.length) throw new PickleTruncatedError(pos + n);
  };
  const u8 = (): number => {
    need(1);
    return bytes[pos++];
  };
  const u16 = (): number => {
    need(2);
    const v = view.getUint16(pos, true);
    pos += 2;
    return v;
  };
  const u32 = (): number => {
    need(4);
    const v = view.getUint32(pos, true);
    pos += 4;
    return v;
  };
  const u64 = (): number => {
    need(8);
    const v = view.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw corrupt(pos - 8, 'length too large');
    return Number(v);
  };
  const take = (n: number): Uint8Array => {
    need(n);
    const b = bytes.subarray(pos, pos + n);
    pos += n;
    return b;
  };
  const line = (): string => {
    const start = pos;
    while (true) {
      need(1);
      if (bytes[pos] === 0x0a) break;
      pos++;
    }
    const text = latin1.decode(bytes.subarray(start, pos));
    pos++;
    return text;
  };
  const pop = (at: number): unknown => {
    if (stack.length === 0) throw corrupt(at, 'stack underflow');
    return stack.pop();
  };
  const top = (at: number): unknown => {
    if (stack.length === 0) throw corrupt(at, 'stack underflow');
    return stack[stack.length - 1];
  };
  const popMark = (at: number): unknown[] => {
    const items = stack;
    const prev = metastack.pop();
    if (prev === undefined) throw corrupt(at, 'MARK expected');
    stack = prev;
    return items;
  };
  const memoGet = (key: number, at: number): unknown => {
    if (!memo.has(key)) throw corrupt(at, `memo entry ${key} is missing`);
    return memo.get(key);
  };
  const memoPut = (key: number, at: number): void => {
    memo.set(key, top(at));
  };
  const global = (module: string, name: string): unknown => options.resolveGlobal(module, name);
  const call = (fn: unknown, args: unknown, at: number, opcode: string): unknown => {
    if (!isPickleCallable(fn)) {
      throw new UnsafePickleError(`refusing pickle ${opcode} at byte ${at}: ${describe(fn)} is not callable here`);
    }
    if (!Array.isArray(args)) throw corrupt(at, `${opcode} arguments are not a tuple`);
    return fn.call(args);
  };
  const setItems = (dict: unknown, items: unknown[], at: number): void => {
    if (!(dict instanceof Map)) throw corrupt(at, `SETITEM(S) on ${describe(dict)}`);
    if (items.length % 2 !== 0) throw corrupt(at, 'odd number of items for SETITEMS');
    for (let i = 0; i < items.length; i += 2) dict.set(items[i], items[i + 1]);
  };
  const appendItems = (list: unknown, items: unknown[], at: number): void => {
    if (!Array.isArray(list)) throw corrupt(at, `APPEND(S) on ${describe(list)}`);
    for (const item of items) list.push(item);
  };
  const persistent = (pid: unknown, at: number): unknown => {
    if (!options.persistentLoad) {
      throw new UnsafePickleError(`refusing persistent id at byte ${at}: not expected in this pickle`);
    }
    return options.persistentLoad(pid);
  };

  while (true) {
    const at = pos;
    const op = u8();
    switch (op) {
      case 0x80: // PROTO
        if (u8() > 5) throw corrupt(at, 'unsupported pickle protocol (newer than 5)');
        break;
      case 0x95: // FRAME: framing is advisory, the opcodes follow in line
        u64();
        break;
      case 0x2e: // STOP '.'
        if (stack.length !== 1 || metastack.length !== 0) {
          throw corrupt(at, `STOP with ${stack.length} values on the stack`);
        }
        return { value: stack[0], end: pos };
      case 0x28: // MARK '('
        metastack.push(stack);
        stack = [];
        break;
      case 0x30: // POP '0'
        if (stack.length > 0) stack.pop();
        else popMark(at);
        break;
      case 0x31: // POP_MARK '1'
        popMark(at);
        break;
      case 0x32: // DUP '2'
        stack.push(top(at));
        break;

      // ---- constants and numbers
      case 0x4e: // NONE 'N'
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4a: // BININT 'J'
        need(4);
        stack.push(view.getInt32(pos, true));
        pos += 4;
        break;
      case 0x4b: // BININT1 'K'
        stack.push(u8());
        break;
      case 0x4d: // BININT2 'M'
        stack.push(u16());
        break;
      case 0x8a: // LONG1
        stack.push(decodeLong(take(u8())));
        break;
      case 0x8b: {
        // LONG4
        const n = u32();
        if (n > 1 << 20) throw corrupt(at, 'LONG4 integer is unreasonably long');
        stack.push(decodeLong(take(n)));
        break;
      }
      case 0x47: // BINFLOAT 'G' (big-endian double)
        need(8);
        stack.push(view.getFloat64(pos, false));
        pos += 8;
        break;
      case 0x49: // INT 'I' (text)
        stack.push(parseTextInt(line(), at));
        break;
      case 0x4c: {
        // LONG 'L' (text)
        const v = parseTextInt(line(), at);
        stack.push(typeof v === 'boolean' ? Number(v) : v);
        break;
      }
      case 0x46: {
        // FLOAT 'F' (text)
        const text = line().trim();
        const v = Number(text);
        if (text === '' || (Number.isNaN(v) && !/^[-+]?nan$/i.test(text))) throw corrupt(at, 'bad float literal');
        stack.push(v);
        break;
      }

      // ---- strings and bytes
      case 0x58: // BINUNICODE 'X'
        stack.push(utf8.decode(take(u32())));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(utf8.decode(take(u8())));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(utf8.decode(take(u64())));
        break;
      case 0x54: // BINSTRING 'T' (Python 2 str)
        need(4);
        {
          const n = view.getInt32(pos, true);
          pos += 4;
          if (n < 0) throw corrupt(at, 'negative BINSTRING length');
          stack.push(latin1.decode(take(n)));
        }
        break;
      case 0x55: // SHORT_BINSTRING 'U'
        stack.push(latin1.decode(take(u8())));
        break;
      case 0x42: // BINBYTES 'B'
        stack.push(take(u32()).slice());
        break;
      case 0x43: // SHORT_BINBYTES 'C'
        stack.push(take(u8()).slice());
        break;
      case 0x8e: // BINBYTES8
      case 0x96: // BYTEARRAY8
        stack.push(take(u64()).slice());
        break;

      // ---- containers
      case 0x7d: // EMPTY_DICT '}'
        stack.push(new Map());
        break;
      case 0x64: {
        // DICT 'd'
        const items = popMark(at);
        const d = new Map();
        setItems(d, items, at);
        stack.push(d);
        break;
      }
      case 0x5d: // EMPTY_LIST ']'
        stack.push([]);
        break;
      case 0x6c: {
        // LIST 'l' (popMark swaps `stack`, so take the items first)
        const items = popMark(at);
        stack.push(items);
        break;
      }
      case 0x29: // EMPTY_TUPLE ')'
        stack.push([]);
        break;
      case 0x74: {
        // TUPLE 't' (popMark swaps `stack`, so take the items first)
        const items = popMark(at);
        stack.push(items);
        break;
      }
      case 0x85: // TUPLE1
        stack.push([pop(at)]);
        break;
      case 0x86: {
        // TUPLE2
        const b = pop(at);
        const a = pop(at);
        stack.push([a, b]);
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop(at);
        const b = pop(at);
        const a = pop(at);
        stack.push([a, b, c]);
        break;
      }
      case 0x8f: // EMPTY_SET
        stack.push(new Set());
        break;
      case 0x90: {
        // ADDITEMS
        const items = popMark(at);
        const s = top(at);
        if (!(s instanceof Set)) throw corrupt(at, `ADDITEMS on ${describe(s)}`);
        for (const item of items) s.add(item);
        break;
      }
      case 0x91: {
        // FROZENSET
        const items = popMark(at);
        stack.push(new Set(items));
        break;
      }
      case 0x61: {
        // APPEND 'a'
        const v = pop(at);
        appendItems(top(at), [v], at);
        break;
      }
      case 0x65: {
        // APPENDS 'e'
        const items = popMark(at);
        appendItems(top(at), items, at);
        break;
      }
      case 0x73: {
        // SETITEM 's'
        const v = pop(at);
        const k = pop(at);
        setItems(top(at), [k, v], at);
        break;
      }
      case 0x75: {
        // SETITEMS 'u'
        const items = popMark(at);
        setItems(top(at), items, at);
        break;
      }

      // ---- memo
      case 0x71: // BINPUT 'q'
        memoPut(u8(), at);
        break;
      case 0x72: // LONG_BINPUT 'r'
        memoPut(u32(), at);
        break;
      case 0x70: // PUT 'p' (text)
        memoPut(Number(parseTextInt(line(), at)), at);
        break;
      case 0x94: // MEMOIZE
        memoPut(memo.size, at);
        break;
      case 0x68: // BINGET 'h'
        stack.push(memoGet(u8(), at));
        break;
      case 0x6a: // LONG_BINGET 'j'
        stack.push(memoGet(u32(), at));
        break;
      case 0x67: // GET 'g' (text)
        stack.push(memoGet(Number(parseTextInt(line(), at)), at));
        break;

      // ---- globals and objects
      case 0x63: {
        // GLOBAL 'c'
        const module = line();
        const name = line();
        stack.push(global(module, name));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop(at);
        const module = pop(at);
        if (typeof module !== 'string' || typeof name !== 'string') {
          throw corrupt(at, 'STACK_GLOBAL needs two strings');
        }
        stack.push(global(module, name));
        break;
      }
      case 0x52: {
        // REDUCE 'R'
        const args = pop(at);
        const fn = pop(at);
        stack.push(call(fn, args, at, 'REDUCE'));
        break;
      }
      case 0x81: {
        // NEWOBJ
        const args = pop(at);
        const cls = pop(at);
        stack.push(call(cls, args, at, 'NEWOBJ'));
        break;
      }
      case 0x92: {
        // NEWOBJ_EX
        const kwargs = pop(at);
        const args = pop(at);
        const cls = pop(at);
        if (!(kwargs instanceof Map) || kwargs.size > 0) {
          throw new UnsafePickleError(`refusing NEWOBJ_EX at byte ${at} with keyword arguments`);
        }
        stack.push(call(cls, args, at, 'NEWOBJ_EX'));
        break;
      }
      case 0x62: {
        // BUILD 'b'
        const state = pop(at);
        const obj = top(at);
        if (obj instanceof Map) {
          if (state !== null) attributes.set(obj, state);
        } else if (state !== null) {
          throw new UnsafePickleError(`refusing BUILD at byte ${at}: cannot set the state of ${describe(obj)}`);
        }
        break;
      }
      case 0x51: // BINPERSID 'Q'
        stack.push(persistent(pop(at), at));
        break;
      case 0x50: // PERSID 'P' (text)
        stack.push(persistent(line(), at));
        break;
      case 0x69: {
        // INST 'i': refused, naming the class
        const module = line();
        const name = line();
        throw new UnsafePickleError(
          `refusing to load global '${module}.${name}' (pickle INST opcode at byte ${at}): checkpoints may ` +
            'only contain tensors and plain data',
        );
      }
      case 0x6f: // OBJ 'o'
        throw new UnsafePickleError(
          `refusing pickle OBJ opcode at byte ${at} (it instantiates ${describe(stack[0])}): checkpoints may only ` +
            'contain tensors and plain data',
        );
      case 0x82: // EXT1
      case 0x83: // EXT2
      case 0x84: // EXT4
        throw new UnsafePickleError(
          `refusing pickle extension-registry opcode at byte ${at}: checkpoints may only contain tensors and plain data`,
        );
      case 0x97: // NEXT_BUFFER
      case 0x98: // READONLY_BUFFER
        throw new CheckpointError(`unsupported pickle opcode at byte ${at}: out-of-band buffers (protocol 5)`);
      default:
        throw corrupt(
          at,
          `unknown opcode 0x${op.toString(16).padStart(2, '0')}` +
            (op >= 0x20 && op < 0x7f ? ` ('${String.fromCharCode(op)}')` : ''),
        );
    }
    if (metastack.length > 10000 || stack.length > 10_000_000) throw corrupt(at, 'nesting too deep');
  }
}

/** Short description of a pickled value for error messages. */
export function describe(v: unknown): string {
  if (v === null) return 'None';
  if (typeof v === 'object') {
    const q = (v as { qualname?: unknown }).qualname;
    if (typeof q === 'string') return q;
    if (v instanceof Map) return 'a dict';
    if (Array.isArray(v)) return 'a list/tuple';
    if (v instanceof Uint8Array) return 'bytes';
    if (v instanceof Set) return 'a set';
    return 'an object';
  }
  return typeof v === 'string' ? 'a string' : `a ${typeof v}`;
}
