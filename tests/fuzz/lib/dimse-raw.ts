/**
 * A minimal DICOM Upper Layer client (PS3.8) that writes raw PDUs, so hostile datasets reach
 * Orthanc's DIMSE port byte for byte: DCMTK's `storescu` parses a file before sending it and refuses
 * the malformed ones, which are exactly the ones worth sending.
 *
 * One association per call: A-ASSOCIATE-RQ proposing the dataset's transfer syntax, one C-STORE-RQ
 * (command set in implicit VR little endian, PS3.7 §9.3.1.1), the dataset as-is in P-DATA-TF
 * fragments, then A-RELEASE-RQ. The outcome is the C-STORE-RSP status, or what the peer did instead
 * (rejected, aborted, closed, timed out).
 */
import { Socket } from 'node:net';

const APPLICATION_CONTEXT = '1.2.840.10008.3.1.1.1';
const EXPLICIT_LE = '1.2.840.10008.1.2.1';
const IMPLEMENTATION_UID = '1.2.826.0.1.3680043.10.1458.99';
const MAX_PDU = 16_384;

export type StoreOutcome =
  | { kind: 'status'; status: number }
  | { kind: 'rejected'; reason: string }
  | { kind: 'aborted' }
  | { kind: 'closed' }
  | { kind: 'timeout' }
  | { kind: 'refused'; error: string };

const ae = (s: string) => Buffer.from(s.padEnd(16, ' ').slice(0, 16), 'latin1');
const evenUid = (uid: string) => {
  const b = Buffer.from(uid, 'latin1');
  return b.length % 2 ? Buffer.concat([b, Buffer.from([0])]) : b;
};

function item(type: number, body: Buffer): Buffer {
  const h = Buffer.alloc(4);
  h.writeUInt8(type, 0);
  h.writeUInt16BE(body.length, 2);
  return Buffer.concat([h, body]);
}

function pdu(type: number, body: Buffer): Buffer {
  const h = Buffer.alloc(6);
  h.writeUInt8(type, 0);
  h.writeUInt32BE(body.length, 2);
  return Buffer.concat([h, body]);
}

function associateRq(calling: string, called: string, sopClass: string, syntaxes: string[]): Buffer {
  const fixed = Buffer.alloc(68);
  fixed.writeUInt16BE(1, 0);
  ae(called).copy(fixed, 4);
  ae(calling).copy(fixed, 20);
  const pcBody = Buffer.concat([
    Buffer.from([1, 0, 0, 0]),
    item(0x30, Buffer.from(sopClass, 'latin1')),
    ...syntaxes.map((ts) => item(0x40, Buffer.from(ts, 'latin1'))),
  ]);
  const maxLen = Buffer.alloc(4);
  maxLen.writeUInt32BE(MAX_PDU, 0);
  const user = item(
    0x50,
    Buffer.concat([item(0x51, maxLen), item(0x52, Buffer.from(IMPLEMENTATION_UID, 'latin1'))]),
  );
  return pdu(
    0x01,
    Buffer.concat([fixed, item(0x10, Buffer.from(APPLICATION_CONTEXT, 'latin1')), item(0x20, pcBody), user]),
  );
}

function element(group: number, el: number, value: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16LE(group, 0);
  h.writeUInt16LE(el, 2);
  h.writeUInt32LE(value.length, 4);
  return Buffer.concat([h, value]);
}
const us = (v: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(v, 0);
  return b;
};

function cStoreCommand(sopClass: string, sopInstance: string, messageId: number): Buffer {
  const rest = Buffer.concat([
    element(0x0000, 0x0002, evenUid(sopClass)),
    element(0x0000, 0x0100, us(0x0001)),
    element(0x0000, 0x0110, us(messageId)),
    element(0x0000, 0x0700, us(0)),
    element(0x0000, 0x0800, us(0x0000)),
    element(0x0000, 0x1000, evenUid(sopInstance)),
  ]);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(rest.length, 0);
  return Buffer.concat([element(0x0000, 0x0000, len), rest]);
}

/** P-DATA-TF PDUs carrying `data` on presentation context `pcId`, split to fit MAX_PDU. */
function pData(pcId: number, data: Buffer, command: boolean): Buffer[] {
  const out: Buffer[] = [];
  const room = MAX_PDU - 6 - 6;
  for (let at = 0; at === 0 || at < data.length; at += room) {
    const chunk = data.subarray(at, at + room);
    const last = at + room >= data.length;
    const pdv = Buffer.alloc(6);
    pdv.writeUInt32BE(chunk.length + 2, 0);
    pdv.writeUInt8(pcId, 4);
    pdv.writeUInt8((command ? 1 : 0) | (last ? 2 : 0), 5);
    out.push(pdu(0x04, Buffer.concat([pdv, chunk])));
    if (data.length === 0) break;
  }
  return out;
}

/** Reads whole PDUs from a socket. */
class PduReader {
  private buf = Buffer.alloc(0);
  private waiters: ((p: { type: number; body: Buffer } | null) => void)[] = [];
  private ended = false;
  constructor(socket: Socket) {
    socket.on('data', (d) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.pump();
    });
    const end = () => {
      this.ended = true;
      this.pump();
    };
    socket.on('close', end);
    socket.on('error', end);
  }
  private pump() {
    while (this.waiters.length) {
      if (this.buf.length >= 6) {
        const len = this.buf.readUInt32BE(2);
        if (this.buf.length >= 6 + len) {
          const p = { type: this.buf[0] ?? 0, body: this.buf.subarray(6, 6 + len) };
          this.buf = this.buf.subarray(6 + len);
          this.waiters.shift()?.(p);
          continue;
        }
      }
      if (this.ended) this.waiters.shift()?.(null);
      else return;
    }
  }
  next(): Promise<{ type: number; body: Buffer } | null> {
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      this.pump();
    });
  }
}

/** The accepted presentation context's transfer syntax from an A-ASSOCIATE-AC, or null. */
function acceptedSyntax(body: Buffer): string | null {
  let at = 68;
  while (at + 4 <= body.length) {
    const type = body[at];
    const len = body.readUInt16BE(at + 2);
    if (type === 0x21 && body[at + 6] === 0) {
      const sub = at + 8;
      if (body[sub] === 0x40) return body.toString('latin1', sub + 4, sub + 4 + body.readUInt16BE(sub + 2));
    }
    at += 4 + len;
  }
  return null;
}

/** The status (0000,0900) of a C-STORE-RSP command set, or null if absent. */
function statusOf(command: Buffer): number | null {
  let at = 0;
  while (at + 8 <= command.length) {
    const group = command.readUInt16LE(at);
    const el = command.readUInt16LE(at + 2);
    const len = command.readUInt32LE(at + 4);
    if (group === 0 && el === 0x0900 && len === 2) return command.readUInt16LE(at + 8);
    at += 8 + len;
  }
  return null;
}

export interface RawStore {
  host: string;
  port: number;
  callingAet: string;
  calledAet: string;
  sopClassUid: string;
  sopInstanceUid: string;
  /** The transfer syntax the dataset claims (the only one proposed). */
  transferSyntax: string;
  /** The dataset bytes, without preamble or file meta group. */
  dataset: Buffer;
  timeoutMs?: number;
}

export async function rawCStore(o: RawStore): Promise<StoreOutcome> {
  const socket = new Socket();
  const reader = new PduReader(socket);
  const timeout = new Promise<StoreOutcome>((resolve) =>
    setTimeout(() => resolve({ kind: 'timeout' }), o.timeoutMs ?? 20_000).unref(),
  );
  const exchange = (async (): Promise<StoreOutcome> => {
    const connected = await new Promise<string | null>((resolve) => {
      socket.once('connect', () => resolve(null));
      socket.once('error', (e) => resolve(e.message));
      socket.connect(o.port, o.host);
    });
    if (connected) return { kind: 'refused', error: connected };
    // Only the syntax the bytes claim: if the peer may choose another, it parses them wrongly on
    // purpose-free grounds and the finding is about our proposal, not its parser.
    const syntaxes = [o.transferSyntax || EXPLICIT_LE];
    socket.write(associateRq(o.callingAet, o.calledAet, o.sopClassUid, syntaxes));
    const ac = await reader.next();
    if (!ac) return { kind: 'closed' };
    if (ac.type === 0x03) return { kind: 'rejected', reason: `A-ASSOCIATE-RJ ${ac.body.toString('hex')}` };
    if (ac.type === 0x07) return { kind: 'aborted' };
    if (ac.type !== 0x02) return { kind: 'rejected', reason: `unexpected PDU 0x${ac.type.toString(16)}` };
    if (!acceptedSyntax(ac.body)) return { kind: 'rejected', reason: 'no presentation context accepted' };
    for (const p of pData(1, cStoreCommand(o.sopClassUid, o.sopInstanceUid, 1), true)) socket.write(p);
    for (const p of pData(1, o.dataset, false)) socket.write(p);
    // The response: one or more P-DATA-TF with the command set (small: one PDU in practice).
    for (;;) {
      const r = await reader.next();
      if (!r) return { kind: 'closed' };
      if (r.type === 0x07) return { kind: 'aborted' };
      if (r.type !== 0x04) continue;
      const command = r.body.subarray(6);
      const status = statusOf(command);
      if (status === null) continue;
      socket.write(pdu(0x05, Buffer.alloc(4)));
      await Promise.race([reader.next(), new Promise((res) => setTimeout(res, 2000).unref())]);
      return { kind: 'status', status };
    }
  })();
  try {
    return await Promise.race([exchange, timeout]);
  } finally {
    socket.destroy();
  }
}
