// TensorBoard event files for scalars, written by hand: TFRecord framing with masked CRC32C and the few
// protobuf messages a scalar needs (tensorflow/core/util/event.proto, tensorflow/core/framework/summary.proto).
// tfjs-node's tf.node.tensorBoard is not available here, and no maintained npm writer exists.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describeFsError, fsyncDir, makeDirs } from '../sys/safe-file';

// ---------------------------------------------------------------------------------------------
// CRC32C (Castagnoli), table-driven, as the TFRecord format requires

/** The Castagnoli polynomial 0x1EDC6F41, bit-reversed for the LSB-first (reflected) algorithm. */
const CRC32C_POLYNOMIAL = 0x82f63b78;

const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ CRC32C_POLYNOMIAL : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC32C of `bytes`; pass a previous result as `crc` to continue over more bytes. */
export function crc32c(bytes: Uint8Array, crc = 0): number {
  let c = ~crc >>> 0;
  for (let i = 0; i < bytes.length; i++) c = CRC32C_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

/** TFRecord's masking constant: a CRC stored beside the data it covers is rotated and offset by it. */
const CRC_MASK_DELTA = 0xa282ead8;

/** TFRecord's masked CRC: rotate right by 15 bits, add 0xa282ead8 (mod 2^32). */
export function maskedCrc32c(bytes: Uint8Array): number {
  const crc = crc32c(bytes);
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + CRC_MASK_DELTA) >>> 0;
}

/** One TFRecord: uint64 length, masked CRC32C of those 8 bytes, the data, masked CRC32C of the data (all little-endian). */
export function frameRecord(data: Uint8Array): Buffer {
  const record = Buffer.alloc(8 + 4 + data.length + 4);
  record.writeBigUInt64LE(BigInt(data.length), 0);
  record.writeUInt32LE(maskedCrc32c(record.subarray(0, 8)), 8);
  record.set(data, 12);
  record.writeUInt32LE(maskedCrc32c(data), 12 + data.length);
  return record;
}

// ---------------------------------------------------------------------------------------------
// Protobuf encoding of Event, Summary and Summary.Value (proto3), only the fields nin writes

/** Protobuf wire types: varint, 64-bit, length-delimited, 32-bit. */
const WIRE = { varint: 0, fixed64: 1, bytes: 2, fixed32: 5 } as const;

/** Field numbers from event.proto (Event) and summary.proto (Summary, Summary.Value). */
export const EVENT_FIELDS = Object.freeze({ wallTime: 1, step: 2, fileVersion: 3, summary: 5 });
export const SUMMARY_FIELDS = Object.freeze({ value: 1 });
export const VALUE_FIELDS = Object.freeze({ tag: 1, simpleValue: 2 });

/** What the first record of every event file says: TensorBoard checks the "brain.Event:" prefix. */
export const FILE_VERSION = 'brain.Event:2';

function varint(value: number): number[] {
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`varint needs a non-negative safe integer, got ${value} (this is a bug)`);
  const out: number[] = [];
  while (value >= 0x80) {
    out.push((value % 0x80) | 0x80);
    value = Math.floor(value / 0x80);
  }
  out.push(value);
  return out;
}

function key(field: number, wireType: number): number[] {
  return varint(field * 8 + wireType);
}

function lengthDelimited(field: number, payload: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([...key(field, WIRE.bytes), ...varint(payload.length)]), payload]);
}

export interface ScalarValue {
  tag: string;
  value: number; // stored as a float32, as TensorBoard's simple_value is
}

/** Summary { repeated Value value = 1 }, each Value { string tag = 1; float simple_value = 2 }. */
function encodeSummary(values: ScalarValue[]): Buffer {
  return Buffer.concat(
    values.map(({ tag, value }) => {
      const simple = Buffer.alloc(4);
      simple.writeFloatLE(value, 0);
      const body = Buffer.concat([
        lengthDelimited(VALUE_FIELDS.tag, Buffer.from(tag, 'utf8')),
        Buffer.from(key(VALUE_FIELDS.simpleValue, WIRE.fixed32)),
        simple,
      ]);
      return lengthDelimited(SUMMARY_FIELDS.value, body);
    }),
  );
}

export interface EventContent {
  wallTime: number; // seconds since the epoch (Unix time), fractional
  step?: number; // the global step; 0 is left out, as proto3 leaves out defaults
  fileVersion?: string;
  summary?: ScalarValue[];
}

/** Event { double wall_time = 1; int64 step = 2; oneof what { string file_version = 3; Summary summary = 5 } }. */
export function encodeEvent(event: EventContent): Buffer {
  const parts: Buffer[] = [];
  const wallTime = Buffer.alloc(8);
  wallTime.writeDoubleLE(event.wallTime, 0);
  parts.push(Buffer.from(key(EVENT_FIELDS.wallTime, WIRE.fixed64)), wallTime);
  if (event.step) parts.push(Buffer.from([...key(EVENT_FIELDS.step, WIRE.varint), ...varint(event.step)]));
  if (event.fileVersion !== undefined && event.summary !== undefined)
    throw new Error('an Event holds a file_version or a summary, not both (this is a bug)');
  if (event.fileVersion !== undefined) parts.push(lengthDelimited(EVENT_FIELDS.fileVersion, Buffer.from(event.fileVersion, 'utf8')));
  if (event.summary !== undefined) parts.push(lengthDelimited(EVENT_FIELDS.summary, encodeSummary(event.summary)));
  return Buffer.concat(parts);
}

// ---------------------------------------------------------------------------------------------
// The writer

export interface TensorBoardOptions {
  flushSeconds?: number; // buffered events are appended at the first scalar after this long (TF2's default: 10 s)
  now?: () => number; // wall clock in milliseconds (tests pass a fixed one)
  hostname?: string; // the file name's last part
}

const DEFAULT_FLUSH_SECONDS = 10;

/**
 * Appends scalars to a new `events.out.tfevents.<seconds>.<hostname>` in `dir`, which TensorBoard
 * (`tensorboard --logdir DIR`) reads while it grows. Events are buffered and appended whole records
 * at a time, then fsynced: at `flush()`, every `flushSeconds`, and at `close()`, so a reader never
 * sees half a record from a live writer and a crash loses at most the events since the last flush.
 * File-system failures are NinErrors that name the file.
 */
export class TensorBoardWriter {
  readonly file: string;
  private fd: number | null;
  private pending: Buffer[] = [];
  private lastFlush: number;
  private readonly flushMs: number;
  private readonly now: () => number;

  constructor(
    readonly dir: string,
    options: TensorBoardOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.flushMs = (options.flushSeconds ?? DEFAULT_FLUSH_SECONDS) * 1000;
    const started = this.now();
    const base = `events.out.tfevents.${Math.floor(started / 1000)}.${options.hostname ?? os.hostname()}`;
    try {
      makeDirs(dir);
      // Two writers started in the same second on one host (a resume right after a stop) get separate files.
      let opened: { fd: number; file: string } | null = null;
      for (let n = 0; !opened; n++) {
        const file = path.join(dir, n === 0 ? base : `${base}.${n}`);
        try {
          opened = { fd: fs.openSync(file, 'ax'), file };
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || n >= 100) throw err;
        }
      }
      this.fd = opened.fd;
      this.file = opened.file;
    } catch (err) {
      throw describeFsError(err, `creating a TensorBoard event file in ${dir}`, 'pass another --tensorboard directory');
    }
    this.lastFlush = started;
    this.pending.push(frameRecord(encodeEvent({ wallTime: started / 1000, fileVersion: FILE_VERSION })));
    this.flush();
    fsyncDir(dir);
  }

  /** One scalar at a step (TensorBoard's x axis); non-finite values are written as they are. */
  scalar(tag: string, value: number, step: number): void {
    this.scalars({ [tag]: value }, step);
  }

  /** Several scalars at one step, as one Event whose Summary holds a Value per tag. */
  scalars(values: Record<string, number>, step: number): void {
    if (this.fd === null) throw new Error(`TensorBoard writer for ${this.file} is closed (this is a bug)`);
    if (!Number.isSafeInteger(step) || step < 0)
      throw new Error(`TensorBoard step must be a non-negative integer, got ${step} (this is a bug)`);
    const summary = Object.entries(values).map(([tag, value]) => ({ tag, value }));
    if (summary.length === 0) return;
    const now = this.now();
    this.pending.push(frameRecord(encodeEvent({ wallTime: now / 1000, step, summary })));
    if (now - this.lastFlush >= this.flushMs) this.flush();
  }

  /** Appends the buffered events as whole records and fsyncs them. */
  flush(): void {
    if (this.fd === null || this.pending.length === 0) return;
    const data = Buffer.concat(this.pending);
    try {
      for (let written = 0; written < data.length;) written += fs.writeSync(this.fd, data, written);
      fs.fsyncSync(this.fd);
    } catch (err) {
      throw describeFsError(err, `writing ${this.file}`, 'check the --tensorboard directory (a full disk?)');
    }
    this.pending = [];
    this.lastFlush = this.now();
  }

  /** Flushes and closes the file; later calls do nothing. */
  close(): void {
    if (this.fd === null) return;
    try {
      this.flush();
    } finally {
      fs.closeSync(this.fd);
      this.fd = null;
    }
  }
}
