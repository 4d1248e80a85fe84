import { mkdir, open, readFile, readdir, rename, unlink } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import type { Store } from '../store/store.js';
import { openStore } from '../store/open-store.js';
import { advertisedHost, joinHostPort } from '../util/host.js';
import type { FromKeeper, KeeperInit, ToKeeper } from '../protocol/keeper-messages.js';
import type { StoreAccess } from '../protocol/store-access.js';
import { macMatches, newNonce } from '../protocol/challenge.js';
import { programEventMessage } from '../protocol/program-events.js';
import { frame, KeeperAuthSchema, KeeperHelloSchema, keeperMac, MessageReader, type KeeperHello, type WireMessage } from '../protocol/keeper-wire.js';
import { KeeperClient, type Timed } from './keeper-client.js';
import { noCost, StretchMeter, type FurtherStreamCost, type StreamSide } from './stream-cost.js';
import { diskCadence, finest, retained, type Cadence } from './replica-cadence.js';
import { checksum, corruptEntries, decodeVersion, encodeVersion, encodeVersionParts, VersionMetaSchema, type StateVersion } from './version-format.js';
import { NO_JIT } from '../protocol/no-jit.js';

/**
 * The state keeper: a thread in the program's process that owns the committed versions it is
 * handed (those replicated or persisted at commit, the rest when a recovery asks: see Keeper in
 * sdk/state.ts). It keeps in memory what the cadence says (replica-cadence.ts), checksums the
 * versions that leave the node, pushes the replicated ones to the next node's keeper (and those
 * marked `further` to the further peers' keepers: replica-cadence.ts), writes the
 * persisted ones to the state directory (atomic rename), and answers other keepers' requests
 * for the versions it holds. It dies with the program, as the node's memory would.
 *
 * The core holds no module state and runs anywhere: keeper-thread.ts is its thread entry, and
 * unit tests run keepers in-process.
 */
export interface KeeperCoreDeps {
  openStore(address: string, opts: { secret: string; access?: StoreAccess }): Promise<Store>;
}

export interface KeeperCore {
  /** One message from the program (the thread entry forwards them). */
  handle(m: ToKeeper): void;
  /** Stops serving peers and closes the store: for tests; a thread just ends. */
  close(): Promise<void>;
}

export function createKeeperCore(post: (m: FromKeeper) => void, deps: KeeperCoreDeps = { openStore }): KeeperCore {
  let server: Server | undefined;
  /** Peers' connections to us, ended by close(). */
  const served = new Set<Socket>();

  const REMOTE_TIMEOUT_MS = 3000;

  let cfg: KeeperInit;
  let store: Store;
  let slot = -1;
  /** Whose keepers receive this node's replicas (replica-peers.ts). */
  let buddies: number[] = [];
  const memory = new Map<number, Map<number, StateVersion>>();
  const clients = new Map<number, KeeperClient>();
  /** Where fetchable copies of a slot's versions were found by the last listing. */
  const sources = new Map<number, Map<number, string[]>>();

  const slotDir = (s: number): string => join(cfg.stateDir, `slot-${s}`);
  const fileOf = (s: number, v: number): string => join(slotDir(s), `v${String(v).padStart(12, '0')}.rcs`);
  const keeperKey = (node: number): string => `rollcall/${cfg.job}/keeper/${node}`;

  function held(s: number): Map<number, StateVersion> {
    let m = memory.get(s);
    if (!m) memory.set(s, (m = new Map()));
    return m;
  }

  /**
   * Snapshot buffers of our own commits go back to the program's SnapshotPool once nothing holds
   * them. A buffer is held by a version in memory (ours, or a replica that deduplicated against
   * it) and by background work in flight.
   */
  const pins = new Map<Uint8Array, number>();
  /** Our own commits' buffers, and the version each was committed as (the program may still be reading a drafted one). */
  const owner = new WeakMap<Uint8Array, number>();

  function pin(v: StateVersion): void {
    for (const d of v.data) pins.set(d, (pins.get(d) ?? 0) + 1);
  }

  function unpin(v: StateVersion): void {
    const free: { version: number; buffer: Uint8Array }[] = [];
    for (const d of v.data) {
      const n = (pins.get(d) ?? 1) - 1;
      if (n > 0) pins.set(d, n);
      else {
        pins.delete(d);
        const version = owner.get(d);
        if (version !== undefined) free.push({ version, buffer: d });
      }
    }
    if (free.length > 0) post({ type: 'release', items: free });
  }

  function forget(s: number, version: number): void {
    const m = held(s);
    const v = m.get(version);
    if (!v) return;
    m.delete(version);
    unpin(v);
  }

  /** What to replicate and keep, in memory and on disk; the program sets them in step with the other members. */
  let cadence: Cadence;
  let disk: Cadence;

  /**
   * Keeps what `retained` says: the K newest versions, and the replicated ones that, when a node
   * is lost with its memory, every other member must still hold (replica-cadence.ts).
   */
  function remember(s: number, v: StateVersion): void {
    const m = held(s);
    forget(s, v.meta.version);
    m.set(v.meta.version, v);
    pin(v);
    const kept = retained(m.keys(), cadence);
    for (const old of [...m.keys()]) if (!kept.has(old)) forget(s, old);
  }

  function corrupt(s: number, version: number, source: string, message: string): void {
    post({ type: 'event', event: 'state_corrupt', fields: { slot: s, version, source, message } });
  }

  /**
   * Checksums are computed when a version is first copied anywhere (disk, replica) or listed in a
   * recovery, not at commit: on a machine whose cores are all busy, a CRC of every version costs
   * step time even on this thread, and most versions are superseded before anyone reads them.
   */
  const sealed = new WeakSet<StateVersion>();
  function seal(v: StateVersion): StateVersion {
    if (!sealed.has(v)) {
      v.meta.entries.forEach((e, i) => (e.crc = checksum(v.data[i] as Uint8Array)));
      sealed.add(v);
    }
    return v;
  }

  /** Memory copies of a slot, re-verified now; a corrupt one is reported and dropped. */
  function intactInMemory(s: number): Map<number, StateVersion> {
    const m = held(s);
    for (const [v, sv] of m) {
      if (!sealed.has(sv)) {
        seal(sv); // the original: intact by definition
        continue;
      }
      const bad = corruptEntries(sv);
      if (bad.length > 0) {
        corrupt(s, v, 'memory', `entries ${bad.join(',')} fail their checksum`);
        forget(s, v);
      }
    }
    return m;
  }

  /** Every other keeper of the job: one listing of the store, O(N). Only where no partner can answer. */
  async function peers(): Promise<Map<number, KeeperClient>> {
    const { kvs } = await store.list(`rollcall/${cfg.job}/keeper/`);
    for (const kv of kvs) clientFor(Number(kv.key.slice(kv.key.lastIndexOf('/') + 1)), kv.value);
    return clients;
  }

  /** One keeper, by one store read the first time (a client connects on its first request). */
  async function clientOf(node: number): Promise<KeeperClient | undefined> {
    const known = clients.get(node);
    if (known) return known;
    const kv = await store.get(keeperKey(node));
    return kv ? clientFor(node, kv.value) : undefined;
  }

  function clientFor(node: number, address: string): KeeperClient | undefined {
    if (node === cfg.node) return undefined;
    let c = clients.get(node);
    if (!c || c.address !== address) {
      c?.close();
      c = new KeeperClient(address, cfg.job, cfg.secret);
      clients.set(node, c);
    }
    return c;
  }

  /** This node's replica peers: on its ring position they held the replicas of its slot too. */
  const partners = (): number[] => buddies.filter((b) => b !== cfg.node);

  // ---- commits: checksum, keep, persist, replicate ----

  function commit(v: StateVersion, replicate: boolean, further: boolean, persist: boolean): void {
    for (const d of v.data) owner.set(d, v.meta.version);
    remember(v.meta.slot, v);
    for (let i = commitWaiters.length - 1; i >= 0; i--) {
      const w = commitWaiters[i] as { version: number; run: () => void };
      if (w.version <= v.meta.version) {
        commitWaiters.splice(i, 1);
        w.run();
      }
    }
    if (persist) toDisk.offer(v);
    if (replicate) toBuddy.offer(v);
    if (further) toFurther.offer(v);
  }

  /**
   * Replicas are made of the same versions on every node (the program picks them: see
   * replica-cadence.ts), so that a replaced node's buddy holds a version the other members hold
   * too. Only the newest offered waits: when the buddy cannot keep up, versions in between are
   * skipped rather than queued without bound.
   */
  class Newest {
    private next: StateVersion | undefined;
    private busy = false;
    constructor(private readonly work: (v: StateVersion) => Promise<boolean>) {}

    offer(v: StateVersion): void {
      if (this.next) unpin(this.next);
      this.next = v;
      pin(v);
      if (!this.busy) void this.drain();
    }

    private async drain(): Promise<void> {
      this.busy = true;
      for (;;) {
        const v = this.next;
        if (!v) break;
        this.next = undefined;
        if (held(v.meta.slot).has(v.meta.version)) await this.work(v).catch(() => false);
        unpin(v);
      }
      this.busy = false;
      for (const w of this.idlers.splice(0)) w();
    }

    private readonly idlers: (() => void)[] = [];

    /** Resolves when nothing is waiting or being sent, or after `ms`. */
    async idle(ms: number): Promise<void> {
      if (!this.busy) return;
      let t: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.idlers.push(resolve);
        t = setTimeout(resolve, ms);
      });
      clearTimeout(t);
    }
  }

  /**
   * Disk copies are made of the same versions on every node (the program picks them, as for
   * replicas), so that after a full stop the nodes' files have versions in common. They are
   * queued, not coalesced, for the same reason; only more than K waiting drops the oldest.
   */
  class Aligned {
    private readonly queue: StateVersion[] = [];
    private draining: Promise<void> | undefined;

    offer(v: StateVersion): void {
      pin(v);
      this.queue.push(v);
      while (this.queue.length > cfg.keep) unpin(this.queue.shift() as StateVersion);
      this.draining ??= this.drain().finally(() => (this.draining = undefined));
    }

    private async drain(): Promise<void> {
      for (let v = this.queue.shift(); v; v = this.queue.shift()) {
        if (held(v.meta.slot).has(v.meta.version)) await persist(seal(v));
        unpin(v);
      }
    }

    /** Resolves when the queue is written, or after `ms` (a disk that hangs must not hang us). */
    async idle(ms: number): Promise<void> {
      let t: NodeJS.Timeout | undefined;
      await Promise.race([this.draining, new Promise((r) => (t = setTimeout(r, ms)))]);
      clearTimeout(t);
    }
  }

  const toDisk = new Aligned();
  // Two streams: the second peers' sparse versions neither wait for nor displace the first's.
  const toBuddy = new Newest((v) => replicate(seal(v), buddies.slice(0, 1)));
  /** What the further peers' stream costs this thread, both ways (stream-cost.ts); read by the state bench. */
  const furtherCost = noCost();
  const meter = new StretchMeter();
  // A multiple of `farEvery` goes to the first peer on this stream too (a push of what it holds
  // already costs a handshake). When two neighbours are lost at once, the common version is on
  // the far lattice (the first of them has only its second peer's copies left), so the second of
  // them must have that version at its own first peer; the first peer's stream skips a version
  // that a newer one overtakes while the peer is busy (seen: a loaded run rolled back to 0, not 64).
  const onFarLattice = (v: StateVersion): boolean => cadence.farEvery !== undefined && v.meta.version % cadence.farEvery === 0;
  const toFurther = new Newest((v) => {
    const sent = furtherCost.sent;
    sent.versions += 1;
    return replicate(meter.time(sent, () => seal(v)), onFarLattice(v) ? buddies : buddies.slice(1), { side: sent, timed: (f) => meter.time(sent, f) });
  });

  async function persist(v: StateVersion): Promise<boolean> {
    const { slot: s, version } = v.meta;
    try {
      await mkdir(slotDir(s), { recursive: true });
      const path = fileOf(s, version);
      const tmp = `${path}.tmp-${process.pid}`;
      const fh = await open(tmp, 'w');
      try {
        // Gathered, not concatenated: no copy of the state just to write it.
        await fh.writev(encodeVersionParts(v));
        await fh.datasync();
      } finally {
        await fh.close();
      }
      // rename is atomic: a reader sees the old set of files or the new one, never half a file.
      await rename(tmp, path);
      // Older files go as the disk cadence says: the members' files must keep a version in common.
      const versions = (await readdir(slotDir(s))).flatMap((f) => (/^v\d+\.rcs$/.test(f) ? [Number(f.slice(1, -4))] : []));
      const kept = retained(versions, disk);
      for (const old of versions) if (!kept.has(old)) await unlink(fileOf(s, old)).catch(() => undefined);
      return true;
    } catch (e) {
      post({ type: 'event', event: 'state_error', fields: { slot: s, version, message: `could not persist: ${(e as Error).message}` } });
      return false;
    }
  }

  /**
   * To these replica peers at once: true if at least one has it. `further`: sent on the further
   * peers' stream, whose pushes say so (the receiver counts what keeping them costs) and whose
   * work here is timed into its counters.
   */
  async function replicate(v: StateVersion, to: number[], further?: { side: StreamSide; timed: Timed }): Promise<boolean> {
    const done = await Promise.all(to.filter((b) => b !== cfg.node).map((b) => replicateTo(b, v, further)));
    return done.includes(true);
  }

  async function replicateTo(buddy: number, v: StateVersion, further?: { side: StreamSide; timed: Timed }): Promise<boolean> {
    try {
      let c = clients.get(buddy);
      if (!c) c = await clientOf(buddy);
      if (!c) return false;
      if (further) further.side.pushes += 1;
      return await c.session(async (exchange) => {
        const need = await exchange({ op: 'push', meta: v.meta, ...(further ? { further: true } : {}) }, undefined, REMOTE_TIMEOUT_MS, further?.timed);
        const idx = (need.head.need as number[] | undefined) ?? [];
        if (idx.length === 0) return true;
        const concat = (): Buffer => Buffer.concat(idx.map((i) => v.data[i] as Uint8Array));
        const body = further ? further.timed(concat) : concat();
        if (further) further.side.bytes += body.byteLength;
        const stored = await exchange({ op: 'push_data', slot: v.meta.slot, version: v.meta.version }, body, REMOTE_TIMEOUT_MS, further?.timed);
        return stored.head.ok === true;
      });
    } catch {
      return false; // the buddy is gone or busy; the version still has its disk copy
    }
  }

  // ---- finding and fetching versions ----

  async function list(s: number, wide = false): Promise<{ version: number; step: number }[]> {
    const found = new Map<number, { step: number; from: string[] }>();
    const note = (version: number, step: number, from: string): void => {
      const f = found.get(version) ?? { step, from: [] };
      f.from.push(from);
      found.set(version, f);
    };
    for (const [v, sv] of intactInMemory(s)) note(v, sv.meta.step, 'memory');
    // Our own newest versions are in memory, and replicas are never newer; but when a slot must
    // come from disk elsewhere (a node lost with its buddy), the common version may be older
    // than what memory keeps, so the disk copies are listed too.
    if (found.size > 0) {
      for (const { version, step } of await listDisk(s)) note(version, step, 'disk');
    } else {
      // A node new to the slot (a spare brought in, or every node at the start) asks the K
      // partners that held the slot's replicas, not every keeper: O(K) connections per node on
      // the recovery path and at the start, not O(N). Only if none of them nor the disk has a
      // version (the slot's holders moved by several changes in a row), and not at the job's
      // start (`wide`), are all keepers asked.
      const ask = (nodes: number[]): Promise<unknown> =>
        Promise.all(
          nodes.map(async (node) => {
            try {
              const c = await clientOf(node);
              if (!c) return;
              const r = await c.request({ op: 'list', slot: s }, undefined, REMOTE_TIMEOUT_MS);
              for (const e of (r.head.versions as { version: number; step: number }[] | undefined) ?? []) note(e.version, e.step, `node:${node}`);
            } catch {
              // an unreachable keeper holds nothing we can use
            }
          }),
        );
      const near = partners();
      const [, disk] = await Promise.all([ask(near), listDisk(s)]);
      for (const { version, step } of disk) note(version, step, 'disk');
      if (found.size === 0 && wide) await ask([...(await peers()).keys()].filter((n) => !near.includes(n)));
    }
    sources.set(s, new Map([...found].map(([v, f]) => [v, f.from])));
    return [...found].map(([version, f]) => ({ version, step: f.step })).sort((a, b) => a.version - b.version);
  }

  async function listDisk(s: number): Promise<{ version: number; step: number }[]> {
    let files: string[];
    try {
      files = (await readdir(slotDir(s))).filter((f) => /^v\d+\.rcs$/.test(f));
    } catch {
      return [];
    }
    const out: { version: number; step: number }[] = [];
    for (const f of files) {
      const path = join(slotDir(s), f);
      try {
        const v = decodeVersion(await readFile(path), path);
        out.push({ version: v.meta.version, step: v.meta.step });
      } catch (e) {
        corrupt(s, Number(f.slice(1, -4)), path, (e as Error).message);
      }
    }
    return out;
  }

  /** Version `version` of any slot this keeper holds, its own first. */
  function anyInMemory(version: number): StateVersion | undefined {
    for (const sl of [slot, ...memory.keys()]) {
      const v = memory.has(sl) ? intactInMemory(sl).get(version) : undefined;
      if (v) return v;
    }
    return undefined;
  }

  /**
   * Another member's version of state declared replicated in full (`any`) is this slot's too:
   * held from now on as the slot's, so that the next recovery finds it here even if every node
   * that held it before is lost (a spare that restored it, then its partner replaced as well).
   */
  function adopt(s: number, v: StateVersion): StateVersion {
    const mine = v.meta.slot === s ? v : { meta: { ...v.meta, slot: s }, data: v.data };
    sealed.add(mine);
    remember(s, mine);
    return mine;
  }

  async function fetch(s: number, version: number, any = false): Promise<StateVersion> {
    const own = intactInMemory(s).get(version);
    if (own) return own;
    const local = any ? anyInMemory(version) : undefined;
    if (local) return adopt(s, local);
    for (const from of sources.get(s)?.get(version) ?? (any ? [] : ['disk'])) {
      try {
        let v: StateVersion;
        if (from === 'disk') {
          v = decodeVersion(await readFile(fileOf(s, version)), fileOf(s, version));
        } else {
          const c = await clientOf(Number(from.slice(5)));
          if (!c) continue;
          const r = await c.request({ op: 'get', slot: s, version }, undefined, REMOTE_TIMEOUT_MS);
          if (r.head.ok !== true) continue;
          v = decodeVersion(r.body, `version ${version} of slot ${s} from ${from}`);
        }
        sealed.add(v);
        remember(s, v);
        return v;
      } catch (e) {
        corrupt(s, version, from, (e as Error).message);
      }
    }
    // Replicated state: every member's own copy of the version is as good as the slot's. The
    // partners first; all keepers (one store listing) only if none of them answers.
    for await (const [node, c] of any ? anyHolders(partners()) : []) {
      try {
        const r = await c.request({ op: 'get_any', version }, undefined, REMOTE_TIMEOUT_MS);
        if (r.head.ok === true) return adopt(s, decodeVersion(r.body, `version ${version} from node ${node}`));
      } catch (e) {
        corrupt(s, version, `node:${node}`, (e as Error).message);
      }
    }
    throw new Error(`version ${version} of slot ${s} is not held intact anywhere`);
  }

  /** The partners, then (only if reached) every other keeper. */
  async function* anyHolders(near: number[]): AsyncGenerator<[number, KeeperClient]> {
    for (const n of near) {
      const c = await clientOf(n).catch(() => undefined);
      if (c) yield [n, c];
    }
    for (const [n, c] of await peers()) if (!near.includes(n)) yield [n, c];
  }

  async function truncate(s: number, after: number): Promise<void> {
    for (const v of [...held(s).keys()]) if (v > after) forget(s, v);
    // A resumed job must not find versions of a future that was rolled back.
    await toDisk.idle(REMOTE_TIMEOUT_MS);
    try {
      for (const f of await readdir(slotDir(s))) {
        const m = /^v(\d+)\.rcs$/.exec(f);
        // A version in memory was committed after the rollback (the program did not wait for us).
        if (m && Number(m[1]) > after && !held(s).has(Number(m[1]))) await unlink(join(slotDir(s), f)).catch(() => undefined);
      }
    } catch {
      // no directory yet
    }
  }

  // ---- serving other keepers ----

  const describeOp = (op: unknown): string => (typeof op === 'string' ? JSON.stringify(op.slice(0, 40)) : 'a message without an op');

  function serve(sock: Socket): void {
    served.add(sock);
    sock.once('close', () => served.delete(sock));
    const reader = new MessageReader();
    let authed = false;
    let pending: { meta: StateVersion['meta']; have: (Uint8Array | undefined)[]; further: boolean } | undefined;
    /** A push from the further peers' stream is being received: its bytes' handling is timed (stream-cost.ts). */
    let further = false;
    // Small request/reply exchanges: Nagle plus delayed ACKs would add ~40 ms to each.
    sock.setNoDelay(true);
    const reply = (head: Record<string, unknown>, body?: Uint8Array): void => {
      sock.cork();
      for (const b of frame(head, body)) sock.write(b);
      sock.uncork();
    };
    const peer = joinHostPort(sock.remoteAddress ?? 'unknown', sock.remotePort ?? 0);
    /** What the dialer said in its hello and the nonce we answered with: set between hello and auth. */
    let challenge: { hello: KeeperHello; nonce: string } | undefined;
    let refusedAlready = false;
    const refuse = (reason: string): void => {
      if (refusedAlready) return;
      refusedAlready = true;
      clearTimeout(authTimer);
      refused(peer, reason);
      reply({ op: 'refused', message: reason });
      // After our reason is written: the dialer learns why, and nothing more it sends is read.
      sock.destroySoon();
    };
    // A connection that never authenticates must not hold a socket (and its buffers) for ever.
    const authTimer = setTimeout(() => refuse(`no authentication within ${REMOTE_TIMEOUT_MS} ms`), REMOTE_TIMEOUT_MS);
    authTimer.unref();
    sock.once('close', () => clearTimeout(authTimer));
    const authenticate = (h: Record<string, unknown>): void => {
      if (!challenge) {
        const hello = KeeperHelloSchema.safeParse(h, NO_JIT);
        if (!hello.success) return refuse(h.op === 'hello' ? 'malformed hello' : `expected hello, got ${describeOp(h.op)}`);
        if (hello.data.job !== cfg.job) return refuse(`hello is for job ${JSON.stringify(hello.data.job)}, this keeper serves job ${JSON.stringify(cfg.job)}`);
        const nonce = newNonce();
        challenge = { hello: hello.data, nonce };
        reply({ op: 'challenge', nonce, mac: keeperMac(cfg.secret, 'acceptor', cfg.job, hello.data.nonce, nonce) });
        return;
      }
      const auth = KeeperAuthSchema.safeParse(h, NO_JIT);
      if (!auth.success) return refuse(h.op === 'auth' ? 'malformed auth' : `expected auth, got ${describeOp(h.op)}`);
      if (!macMatches(keeperMac(cfg.secret, 'dialer', cfg.job, challenge.hello.nonce, challenge.nonce), auth.data.mac)) {
        return refuse("auth MAC does not match this connection's challenge: a replayed exchange, or a peer without the job's secret");
      }
      authed = true;
      clearTimeout(authTimer);
    };
    const handle = (m: WireMessage): void => {
      if (refusedAlready) return;
      const h = m.head;
      if (!authed) return authenticate(h);
      if (h.op === 'list') {
        reply({ versions: [...intactInMemory(Number(h.slot)).values()].map((v) => ({ version: v.meta.version, step: v.meta.step })) });
      } else if (h.op === 'get') {
        const v = intactInMemory(Number(h.slot)).get(Number(h.version));
        reply({ ok: v !== undefined }, v ? encodeVersion(v) : undefined);
      } else if (h.op === 'get_any') {
        // Memory first; else our own slot's copy wherever our last listing found it (our disk).
        const version = Number(h.version);
        const local = anyInMemory(version);
        const found = local ? Promise.resolve(local) : slot >= 0 ? fetch(slot, version).catch(() => undefined) : Promise.resolve(undefined);
        void found.then((v) => reply({ ok: v !== undefined }, v ? encodeVersion(v) : undefined));
      } else if (h.op === 'push') {
        const parsed = VersionMetaSchema.safeParse(h.meta, NO_JIT);
        if (!parsed.success) return void sock.destroy();
        const meta = parsed.data;
        const onStream = h.further === true;
        further = onStream;
        if (onStream) furtherCost.stored.pushes += 1;
        // Entries we already hold byte for byte (same size and CRC) are not sent again: in a
        // data-parallel job our own commit of the same version has the same weights. Ranks move
        // in step, so if ours has not arrived yet it is usually a moment away: wait briefly.
        const answerNow = (): void => {
          const have = meta.entries.map((e) => findEntry(meta.version, e.bytes, e.crc));
          const need = have.flatMap((d, i) => (d ? [] : [i]));
          if (need.length === 0) {
            // Nothing to send: the replica is made of what we hold already.
            const v = { meta, data: have as Uint8Array[] };
            sealed.add(v);
            remember(meta.slot, v);
            if (onStream) furtherCost.stored.versions += 1;
            further = false;
          } else pending = { meta, have, further: onStream };
          reply({ need });
        };
        const answer = (): void => (onStream ? meter.time(furtherCost.stored, answerNow) : answerNow());
        if (slot >= 0 && ownNewest() < meta.version) afterOwnCommit(meta.version, DEDUP_WAIT_MS, answer);
        else answer();
      } else if (h.op === 'push_data' && pending && (pending.meta.slot !== Number(h.slot) || pending.meta.version !== Number(h.version))) {
        // Data for another push than the one pending: never checked against the wrong version's
        // checksums (it would fail them and be dropped, yet answered as stored).
        pending = undefined;
        further = false;
        reply({ ok: false });
      } else if (h.op === 'push_data' && pending) {
        const was = pending;
        const { meta, have } = was;
        pending = undefined;
        let at = 0;
        const data = have.map((d, i) => {
          if (d) return d;
          const n = (meta.entries[i] as { bytes: number }).bytes;
          const copy = new Uint8Array(new SharedArrayBuffer(n));
          copy.set(m.body.subarray(at, at + n));
          at += n;
          return copy;
        });
        const v = { meta, data };
        const intact = corruptEntries(v).length === 0;
        if (intact) {
          sealed.add(v);
          remember(meta.slot, v);
        }
        if (was.further) {
          furtherCost.stored.bytes += at;
          if (intact) furtherCost.stored.versions += 1;
        }
        further = false;
        reply({ ok: intact });
      } else {
        sock.destroy();
      }
    };
    sock.on('data', (d: Buffer) => {
      try {
        if (further) meter.time(furtherCost.stored, () => reader.push(d, handle));
        else reader.push(d, handle);
      } catch (e) {
        // Nonsense from a peer that has not authenticated is a refusal like any other; from one that has, a broken peer.
        if (!authed) refuse(`malformed message before authentication: ${(e as Error).message}`);
        sock.destroy();
      }
    });
    sock.on('error', () => undefined);
  }

  /**
   * Refusals are logged, at most REFUSALS_PER_S a second: each is an event through the program
   * and its FMS to the store, and a peer that dials in a loop must not flood the log. The next
   * one logged says how many were not.
   */
  const REFUSALS_PER_S = 10;
  let refusalWindow = 0;
  let refusalsInWindow = 0;
  let refusalsUnlogged = 0;
  function refused(peer: string, reason: string): void {
    const now = Date.now();
    if (now - refusalWindow >= 1000) {
      refusalWindow = now;
      refusalsInWindow = 0;
    }
    if (refusalsInWindow >= REFUSALS_PER_S) {
      refusalsUnlogged += 1;
      return;
    }
    refusalsInWindow += 1;
    post(programEventMessage('auth_refused', { service: 'keeper', peer, reason, ...(refusalsUnlogged > 0 ? { unlogged: refusalsUnlogged } : {}) }));
    refusalsUnlogged = 0;
  }

  const DEDUP_WAIT_MS = 50;
  /** How long the start waits for the initial version's file and replica: a hung disk or buddy must not hang it. */
  const DURABLE_WAIT_MS = 10_000;
  const commitWaiters: { version: number; run: () => void }[] = [];

  function ownNewest(): number {
    return Math.max(-1, ...held(slot).keys());
  }

  /** Runs `run` once our own commit reaches `version`, or after `ms`, whichever comes first. */
  function afterOwnCommit(version: number, ms: number, run: () => void): void {
    let done = false;
    const waiter = { version, run: (): void => once() };
    const once = (): void => {
      if (done) return;
      done = true;
      clearTimeout(t);
      const i = commitWaiters.indexOf(waiter);
      if (i >= 0) commitWaiters.splice(i, 1);
      run();
    };
    const t = setTimeout(once, ms);
    commitWaiters.push(waiter);
  }

  /** Our own copy of the same version is the likely match, and the only one worth a checksum. */
  function findEntry(version: number, bytes: number, crc: number): Uint8Array | undefined {
    const own = slot >= 0 ? held(slot).get(version) : undefined;
    if (own) {
      seal(own);
      const i = own.meta.entries.findIndex((e) => e.bytes === bytes && e.crc === crc);
      if (i >= 0) return own.data[i];
    }
    for (const m of memory.values()) {
      for (const v of m.values()) {
        // Only checksums we have already: computing one per held version to find a match cost
        // more than the transfer it might save.
        if (!sealed.has(v)) continue;
        const i = v.meta.entries.findIndex((e) => e.bytes === bytes && e.crc === crc);
        if (i >= 0) return v.data[i];
      }
    }
    return undefined;
  }

  // ---- the program's requests ----

  const handle = (m: ToKeeper): void => {
    switch (m.type) {
      case 'init':
        void init(m);
        return;
      case 'topology':
        slot = m.slot;
        buddies = m.buddies;
        return;
      case 'commit':
        commit({ meta: m.meta, data: m.data }, m.replicate, m.further, m.persist);
        return;
      case 'cadence':
        cadence = m.cadence;
        disk = m.disk;
        return;
      case 'list':
        list(m.slot, m.wide === true).then(
          (versions) => post({ type: 'reply', id: m.id, versions }),
          (e: unknown) => post({ type: 'reply', id: m.id, error: (e as Error).message }),
        );
        return;
      case 'fetch':
        fetch(m.slot, m.version, m.any).then(
          (v) => post({ type: 'reply', id: m.id, version: { meta: v.meta, data: v.data } }),
          (e: unknown) => post({ type: 'reply', id: m.id, error: (e as Error).message }),
        );
        return;
      case 'durable':
        Promise.all([toDisk.idle(DURABLE_WAIT_MS), toBuddy.idle(DURABLE_WAIT_MS), toFurther.idle(DURABLE_WAIT_MS)]).then(() => post({ type: 'reply', id: m.id }));
        return;
      case 'stream_cost':
        post({ type: 'reply', id: m.id, cost: streamCost() });
        return;
      case 'truncate':
        truncate(m.slot, m.after).then(
          () => post({ type: 'reply', id: m.id }),
          (e: unknown) => post({ type: 'reply', id: m.id, error: (e as Error).message }),
        );
        return;
    }
  };

  function streamCost(): FurtherStreamCost {
    return { sent: { ...furtherCost.sent }, stored: { ...furtherCost.stored }, farEvery: cadence.farEvery };
  }

  async function init(m: KeeperInit): Promise<void> {
    cfg = m;
    cadence = finest(m.keep, m.base);
    disk = diskCadence(cadence, m.persistEvery);
    const srv = createServer(serve);
    server = srv;
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(0, m.host, resolve);
    });
    srv.unref();
    const a = srv.address() as { address: string; port: number };
    const address = joinHostPort(advertisedHost(m.host), a.port);
    store = await deps.openStore(m.store, { secret: m.secret, access: m.storeAccess });
    await store.put(keeperKey(m.node), address);
    post({ type: 'ready', address });
  }

  return {
    handle,
    close: async () => {
      for (const c of clients.values()) c.close();
      clients.clear();
      for (const sock of served) sock.destroy();
      await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
      await store?.close();
    },
  };
}
