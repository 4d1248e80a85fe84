import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { AuthError, ProtocolError } from '../errors.js';
import { NO_JIT } from './no-jit.js';

/**
 * Liveness traffic between FMSes, and from a program to its own FMS, travels as UDP datagrams:
 * no connection to set up or to break, so a dead peer costs nothing but its silence, which is
 * exactly what the heartbeat monitor measures. Each datagram is `<hmac hex>\n<json>`; the HMAC
 * binds the job so a datagram from another job (or a stranger) is dropped, not believed.
 */

const NodeId = z.number().int().nonnegative();
const Seq = z.number().int().nonnegative();
/** A datagram endpoint, host:port, for the reply to a probe (so nobody has to look it up). */
const Address = z.string().min(1).max(300);
/** `slow`: a straggler (fms/straggler-watch.ts), its compute time per step far above the members' median for a window. */
/** `corruption`: the node's replicated state differed from the majority's (sdk/state-verifier.ts). */
export const FaultCauseSchema = z.enum(['exit', 'heartbeat', 'connection', 'slow', 'corruption']);
export type FaultCause = z.infer<typeof FaultCauseSchema>;

export const DatagramSchema = z.discriminatedUnion('type', [
  /**
   * FMS to FMS, every heartbeat interval. `stall`: the longest the sender could not run lately,
   * in ms (fms/stall-meter.ts); its watchers allow it that much more silence.
   */
  z.object({ type: z.literal('heartbeat'), node: NodeId, stall: z.number().int().nonnegative().max(60_000).optional() }),
  /** A program's heartbeat thread to its own FMS; sent off the program's main thread. */
  z.object({ type: z.literal('program_heartbeat'), node: NodeId, pid: z.number().int().positive() }),
  /** A confirmed fault, reported to the one FMS that writes the next membership (fms/fault-proposer.ts). */
  z.object({ type: z.literal('fault'), by: NodeId, failed: z.array(NodeId).min(1), cause: FaultCauseSchema, generation: z.number().int().nonnegative() }),
  /** "Are you alive?": answered with an `ack` to `reply` (fms/indirect-probe.ts). */
  z.object({ type: z.literal('probe'), from: NodeId, seq: Seq, reply: Address }),
  /** `node` answers the probe `seq` of `from`; a helper forwards it to the FMS that asked it. */
  z.object({ type: z.literal('ack'), node: NodeId, from: NodeId, seq: Seq }),
  /** SWIM's ping-req: `from` asks the receiver to probe `target` at `addr` and forward the ack to `reply`. */
  z.object({ type: z.literal('probe_request'), from: NodeId, seq: Seq, target: NodeId, addr: Address, reply: Address }),
  /** Lifeguard's nack: helper `node` reached the asker but heard nothing from `target` in time. */
  z.object({ type: z.literal('nack'), node: NodeId, target: NodeId, seq: Seq }),
]);
export type Datagram = z.infer<typeof DatagramSchema>;

/**
 * What a program's heartbeat thread is started with (its workerData): the signed packet, made
 * on the main thread, and where to send it. The thread then needs nothing but a UDP socket: it
 * used to sign the packet itself, and loading the codec (zod, crypto) in a fresh isolate took
 * 6-8 s under load, all that time a program whose hang nobody could see by its beats.
 */
export interface HeartbeatThreadConfig {
  packet: Uint8Array;
  /** The FMS's datagram endpoint, host:port. */
  fms: string;
  intervalMs: number;
}

const MAX_DATAGRAM_BYTES = 4096;

function mac(job: string, secret: string, json: string): string {
  return createHmac('sha256', secret).update(job).update('\n').update(json).digest('hex');
}

export function encodeDatagram(job: string, secret: string, d: Datagram): Buffer {
  const json = JSON.stringify(d);
  return Buffer.from(`${mac(job, secret, json)}\n${json}`);
}

/** Throws ProtocolError for a malformed datagram and AuthError for one without the job's secret. */
export function decodeDatagram(job: string, secret: string, buf: Buffer): Datagram {
  if (buf.length > MAX_DATAGRAM_BYTES) throw new ProtocolError(`datagram of ${buf.length} bytes exceeds ${MAX_DATAGRAM_BYTES}`);
  const text = buf.toString('utf8');
  const nl = text.indexOf('\n');
  if (nl !== 64) throw new ProtocolError('datagram has no HMAC header');
  const json = text.slice(65);
  const want = Buffer.from(mac(job, secret, json), 'hex');
  const got = Buffer.from(text.slice(0, 64), 'hex');
  if (got.length !== want.length || !timingSafeEqual(got, want)) throw new AuthError('datagram HMAC does not match the job secret');
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    throw new ProtocolError('datagram body is not JSON');
  }
  const parsed = DatagramSchema.safeParse(raw, NO_JIT);
  if (!parsed.success) throw new ProtocolError(`bad datagram: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return parsed.data;
}

/**
 * Heartbeats repeat byte for byte, so one verified once needs no HMAC, JSON or schema again
 * (equal bytes are equally authentic; replaying a datagram was always possible). Measured on
 * 2 nodes: decoding was a quarter of an FMS's JavaScript time, which is cut by half. Only the
 * two kinds of heartbeat are kept: every other datagram is rare and carries a sequence number
 * or a fault, so it would only push heartbeats out. The packets are looked up by their bytes
 * in a map, not compared one by one, so the bound can be generous: an FMS hears its K watched
 * peers and its program (ring.ts), far below it, and past it the oldest packet goes first.
 */
export const CACHED_PACKETS = 256;

const cacheable = (d: Datagram): boolean => d.type === 'heartbeat' || d.type === 'program_heartbeat';

export function cachingDecoder(job: string, secret: string): (buf: Buffer) => Datagram {
  const seen = new Map<string, Datagram>();
  return (buf) => {
    // A heartbeat is under 120 bytes; the key is the packet itself (latin1 maps byte to char).
    const key = buf.length <= 256 ? buf.toString('latin1') : undefined;
    const hit = key === undefined ? undefined : seen.get(key);
    if (hit) return hit;
    const d = decodeDatagram(job, secret, buf);
    if (key !== undefined && cacheable(d)) {
      if (seen.size >= CACHED_PACKETS) seen.delete(seen.keys().next().value as string);
      seen.set(key, Object.freeze(d));
    }
    return d;
  };
}

/** The sending side: a heartbeat's packet is signed once. */
export function cachingEncoder(job: string, secret: string): (d: Datagram) => Buffer {
  const signed = new Map<string, Buffer>();
  return (d) => {
    if (!cacheable(d)) return encodeDatagram(job, secret, d);
    const key = JSON.stringify(d);
    let packet = signed.get(key);
    if (!packet) {
      packet = encodeDatagram(job, secret, d);
      if (signed.size >= CACHED_PACKETS) signed.delete(signed.keys().next().value as string);
      signed.set(key, packet);
    }
    return packet;
  };
}
