// TensorBoard event files (src/tensorboard.ts): CRC32C against published check values, TFRecord framing
// read back by an independent reader, and the Event protos decoded by a decoder written here from
// TensorFlow's own .proto definitions, so the writer's encoder is not checked against itself.
import { test, describe, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { crc32c, FILE_VERSION, frameRecord, maskedCrc32c, TensorBoardWriter } from '../../src/run/tensorboard';

// ---- an independent reader -------------------------------------------------------------------

/** CRC32C bit by bit (no table), straight from the definition: reflected, init and final xor 0xFFFFFFFF. */
function crc32cBitwise(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** The TFRecord docs' mask, written out: ((crc >> 15) | (crc << 17)) + 0xa282ead8, in 32 bits. */
function mask(crc: number): number {
  return Number((((BigInt(crc) >> 15n) | (BigInt(crc) << 17n)) + 0xa282ead8n) & 0xffffffffn);
}

interface RawRecord {
  offset: number;
  length: number;
  data: Buffer;
}

/** Splits a TFRecord file into records, checking both masked CRCs of each and that nothing trails. */
function readRecords(file: Buffer): RawRecord[] {
  const records: RawRecord[] = [];
  let at = 0;
  while (at < file.length) {
    assert.ok(at + 12 <= file.length, `a record header is cut short at ${at}`);
    const lengthBytes = file.subarray(at, at + 8);
    const length = Number(lengthBytes.readBigUInt64LE(0));
    assert.equal(file.readUInt32LE(at + 8), mask(crc32cBitwise(lengthBytes)), `masked CRC of the length at ${at}`);
    assert.ok(at + 12 + length + 4 <= file.length, `record at ${at} (length ${length}) runs past the end`);
    const data = file.subarray(at + 12, at + 12 + length);
    assert.equal(file.readUInt32LE(at + 12 + length), mask(crc32cBitwise(data)), `masked CRC of the data at ${at}`);
    records.push({ offset: at, length, data });
    at += 12 + length + 4;
  }
  return records;
}

// ---- a protobuf decoder built from TensorFlow's .proto files ---------------------------------
//
// tensorflow/core/util/event.proto:
//   message Event { double wall_time = 1; int64 step = 2;
//                   oneof what { string file_version = 3; bytes graph_def = 4; Summary summary = 5; ... } }
// tensorflow/core/framework/summary.proto:
//   message Summary { message Value { string node_name = 7; string tag = 1;
//                                      oneof value { float simple_value = 2; ... } }
//                     repeated Value value = 1; }

type FieldSpec = {
  name: string;
  wireType: number;
  type: 'double' | 'int64' | 'string' | 'float' | 'message';
  repeated?: boolean;
  message?: MessageSpec;
};
type MessageSpec = Record<number, FieldSpec>;

const VALUE_PROTO: MessageSpec = {
  1: { name: 'tag', wireType: 2, type: 'string' },
  2: { name: 'simple_value', wireType: 5, type: 'float' },
  7: { name: 'node_name', wireType: 2, type: 'string' },
};
const SUMMARY_PROTO: MessageSpec = { 1: { name: 'value', wireType: 2, type: 'message', repeated: true, message: VALUE_PROTO } };
const EVENT_PROTO: MessageSpec = {
  1: { name: 'wall_time', wireType: 1, type: 'double' },
  2: { name: 'step', wireType: 0, type: 'int64' },
  3: { name: 'file_version', wireType: 2, type: 'string' },
  5: { name: 'summary', wireType: 2, type: 'message', message: SUMMARY_PROTO },
};

type Decoded = Record<string, unknown>;

function readVarint(buf: Buffer, at: number): [bigint, number] {
  let result = 0n;
  for (let shift = 0n; ; shift += 7n) {
    assert.ok(at < buf.length, 'varint runs past the end');
    const byte = buf[at++];
    result |= BigInt(byte & 0x7f) << shift;
    if (!(byte & 0x80)) return [result, at];
    assert.ok(shift < 63n, 'varint longer than 10 bytes');
  }
}

/** Decodes `buf` as `spec`; every field must be one the .proto declares, with its declared wire type. */
function decode(buf: Buffer, spec: MessageSpec): Decoded {
  const out: Decoded = {};
  let at = 0;
  while (at < buf.length) {
    const [tag, next] = readVarint(buf, at);
    at = next;
    const field = Number(tag >> 3n);
    const wireType = Number(tag & 7n);
    const f = spec[field];
    assert.ok(f, `field ${field} is not in the .proto`);
    assert.equal(wireType, f.wireType, `field ${f.name}: wire type ${wireType}, the .proto says ${f.wireType}`);
    let value: unknown;
    if (wireType === 0) {
      const [v, n] = readVarint(buf, at);
      at = n;
      value = Number(BigInt.asIntN(64, v));
    } else if (wireType === 1) {
      value = buf.readDoubleLE(at);
      at += 8;
    } else if (wireType === 5) {
      value = buf.readFloatLE(at);
      at += 4;
    } else {
      const [len, n] = readVarint(buf, at);
      const end = n + Number(len);
      assert.ok(end <= buf.length, `field ${f.name} runs past the end`);
      const bytes = buf.subarray(n, end);
      value = f.type === 'string' ? bytes.toString('utf8') : decode(bytes, f.message as MessageSpec);
      at = end;
    }
    if (f.repeated) ((out[f.name] ??= []) as unknown[]).push(value);
    else out[f.name] = value;
  }
  return out;
}

/** The events of a file, with proto3 defaults for absent scalars. */
function readEvents(file: string): Decoded[] {
  return readRecords(fs.readFileSync(file)).map((r) => ({ step: 0, ...decode(r.data, EVENT_PROTO) }));
}

type Point = { tag: string; value: number; step: number; wallTime: number };

function scalarsOf(events: Decoded[]): Point[] {
  return events.flatMap((e) =>
    (((e.summary as Decoded | undefined)?.value as Decoded[] | undefined) ?? []).map((v) => ({
      tag: v.tag as string,
      value: v.simple_value as number,
      step: e.step as number,
      wallTime: e.wall_time as number,
    })),
  );
}

// ---- tests ---------------------------------------------------------------------------------------

describe('CRC32C', () => {
  test('matches the published check values', () => {
    // The CRC catalogue's check value for CRC-32C (iSCSI), and RFC 3720 B.4's test patterns.
    assert.equal(crc32c(Buffer.from('123456789', 'ascii')), 0xe3069283);
    assert.equal(crc32c(new Uint8Array(0)), 0);
    assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa);
    assert.equal(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
    assert.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i)), 0x46dd794e);
    assert.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i)), 0x113fdb5c);
  });

  test('the table agrees with the bitwise definition, and continues across chunks', () => {
    const bytes = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7919 + 13) & 0xff);
    assert.equal(crc32c(bytes), crc32cBitwise(bytes));
    assert.equal(crc32c(bytes.subarray(400), crc32c(bytes.subarray(0, 400))), crc32c(bytes));
  });

  test('the TFRecord mask rotates right by 15 and adds 0xa282ead8', () => {
    const data = Buffer.from('brain.Event:2');
    assert.equal(maskedCrc32c(data), mask(crc32cBitwise(data)));
  });
});

describe('TFRecord framing', () => {
  test('length, its masked CRC, the data and its masked CRC, little-endian', () => {
    for (const length of [0, 1, 127, 128, 300, 70000]) {
      const data = Uint8Array.from({ length }, (_, i) => (i * 31) & 0xff);
      const record = frameRecord(data);
      assert.equal(record.length, 8 + 4 + length + 4);
      assert.equal(record.readBigUInt64LE(0), BigInt(length));
      const [read] = readRecords(record);
      assert.deepEqual([...read.data], [...data]);
    }
  });

  test('a flipped bit is caught by the reader', () => {
    const record = frameRecord(Buffer.from('hello'));
    record[13] ^= 1;
    assert.throws(() => readRecords(record), /masked CRC of the data/);
  });
});

describe('TensorBoardWriter', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'h6-tb-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('names the file events.out.tfevents.<seconds>.<hostname> and starts with file_version brain.Event:2', () => {
    const writer = new TensorBoardWriter(path.join(dir, 'tb'), { now: () => 1_700_000_123_456, hostname: 'box' });
    writer.close();
    assert.equal(path.basename(writer.file), 'events.out.tfevents.1700000123.box');
    const events = readEvents(writer.file);
    assert.equal(events.length, 1);
    assert.equal(events[0].file_version, FILE_VERSION);
    assert.equal(events[0].wall_time, 1_700_000_123.456);
    assert.equal(events[0].step, 0);
    assert.equal(events[0].summary, undefined);
  });

  test('tags, steps, values and wall times round-trip through the Event and Summary protos', () => {
    let clock = 1_700_000_000_000;
    const writer = new TensorBoardWriter(dir, { now: () => clock, hostname: 'box' });
    const written: Point[] = [];
    const values = [2.302585, 0.5, -1.25e-3, 123456.78, 0, 1e-30];
    values.forEach((v, i) => {
      clock += 1500;
      const step = [1, 2, 127, 128, 300, 2 ** 40][i];
      writer.scalar(i % 2 ? 'epoch/trainAcc' : 'batch/loss', v, step);
      written.push({ tag: i % 2 ? 'epoch/trainAcc' : 'batch/loss', value: Math.fround(v), step, wallTime: clock / 1000 });
    });
    clock += 1000;
    writer.scalars({ 'epoch/loss': 0.75, 'epoch/testAcc': 0.8125, 'lr/ünïcode': 0.1 }, 3);
    written.push(
      { tag: 'epoch/loss', value: 0.75, step: 3, wallTime: clock / 1000 },
      { tag: 'epoch/testAcc', value: 0.8125, step: 3, wallTime: clock / 1000 },
      { tag: 'lr/ünïcode', value: Math.fround(0.1), step: 3, wallTime: clock / 1000 },
    );
    writer.close();
    const events = readEvents(writer.file);
    assert.equal(events[0].file_version, 'brain.Event:2');
    assert.equal(events.length, 1 + values.length + 1, 'one Event per scalar() call, one for scalars()');
    assert.deepEqual(scalarsOf(events), written);
    // The multi-value Event holds three Values in one Summary.
    assert.equal(((events[events.length - 1].summary as Decoded).value as unknown[]).length, 3);
  });

  test('NaN and infinities are written as float32 values, as TensorBoard shows them', () => {
    const writer = new TensorBoardWriter(dir, { hostname: 'box' });
    writer.scalar('batch/loss', NaN, 1);
    writer.scalar('batch/loss', Infinity, 2);
    writer.close();
    const points = scalarsOf(readEvents(writer.file));
    assert.ok(Number.isNaN(points[0].value));
    assert.equal(points[1].value, Infinity);
  });

  test('buffered events reach the file at flush(), and after flushSeconds on their own; every read sees whole records', () => {
    let clock = 1_700_000_000_000;
    const writer = new TensorBoardWriter(dir, { now: () => clock, hostname: 'box', flushSeconds: 10 });
    const size = () => fs.statSync(writer.file).size;
    const afterHeader = size();
    assert.ok(afterHeader > 0, 'the file_version record is on disk at once');
    writer.scalar('batch/loss', 1, 1);
    assert.equal(size(), afterHeader, 'buffered, not yet written');
    writer.flush();
    assert.equal(readEvents(writer.file).length, 2);
    clock += 5_000;
    writer.scalar('batch/loss', 2, 2);
    assert.equal(readEvents(writer.file).length, 2, 'still within flushSeconds');
    clock += 5_000;
    writer.scalar('batch/loss', 3, 3);
    assert.equal(readEvents(writer.file).length, 4, 'flushSeconds passed: appended without a flush() call');
    // The reader above checked that the file ends on a record boundary each time.
    writer.close();
    writer.close();
    assert.throws(() => writer.scalar('batch/loss', 4, 4), /closed/);
  });

  test('two writers in the same second get two files', () => {
    const a = new TensorBoardWriter(dir, { now: () => 1_700_000_000_000, hostname: 'box' });
    const b = new TensorBoardWriter(dir, { now: () => 1_700_000_000_500, hostname: 'box' });
    a.close();
    b.close();
    assert.notEqual(a.file, b.file);
    assert.deepEqual(fs.readdirSync(dir).sort(), ['events.out.tfevents.1700000000.box', 'events.out.tfevents.1700000000.box.1']);
  });

  test('a directory that cannot be created is one NinError naming it', () => {
    const file = path.join(dir, 'a-file');
    fs.writeFileSync(file, '');
    assert.throws(
      () => new TensorBoardWriter(path.join(file, 'tb')),
      (err: Error) => err.name === 'NinError' && err.message.includes(file),
    );
  });

  test('rejects steps TensorBoard cannot take', () => {
    const writer = new TensorBoardWriter(dir, { hostname: 'box' });
    assert.throws(() => writer.scalar('x', 1, -1), /non-negative integer/);
    assert.throws(() => writer.scalar('x', 1, 1.5), /non-negative integer/);
    writer.close();
  });
});
