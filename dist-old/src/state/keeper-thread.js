import { mkdir, open, readFile, readdir, rename, unlink } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { parentPort } from 'node:worker_threads';
import { connectStore } from '../store/tcp-store-client.js';
import { frame, KeeperClient, keeperToken, MessageReader, tokenOk } from './keeper-wire.js';
import { checksum, corruptEntries, decodeVersion, encodeVersion, encodeVersionParts, VersionMetaSchema } from './version-format.js';
/**
 * The state keeper: a thread in the program's process that owns the committed versions it is
 * handed (every Nth at commit, the rest when a recovery asks: see Keeper in sdk/state.ts). It
 * keeps the newest K per slot in memory, checksums the versions that leave the node, pushes
 * every Nth to the next node's keeper as a replica, writes every Mth to the state directory
 * (atomic rename), and answers other keepers' requests for the versions it holds. It dies with
 * the program, as the node's memory would.
 */
const port = parentPort;
if (!port)
    throw new Error('keeper-thread must run as a worker thread');
const post = (m) => port.postMessage(m);
const REMOTE_TIMEOUT_MS = 3000;
let cfg;
let store;
let token;
let slot = -1;
let buddy;
const memory = new Map();
const clients = new Map();
/** Where fetchable copies of a slot's versions were found by the last listing. */
const sources = new Map();
const slotDir = (s) => join(cfg.stateDir, `slot-${s}`);
const fileOf = (s, v) => join(slotDir(s), `v${String(v).padStart(12, '0')}.rcs`);
const keeperKey = (node) => `rollcall/${cfg.job}/keeper/${node}`;
function held(s) {
    let m = memory.get(s);
    if (!m)
        memory.set(s, (m = new Map()));
    return m;
}
/**
 * Snapshot buffers of our own commits go back to the program's SnapshotPool once nothing holds
 * them. A buffer is held by a version in memory (ours, or a replica that deduplicated against
 * it) and by background work in flight.
 */
const pins = new Map();
/** Our own commits' buffers, and the version each was committed as (the program may still be reading a drafted one). */
const owner = new WeakMap();
function pin(v) {
    for (const d of v.data)
        pins.set(d, (pins.get(d) ?? 0) + 1);
}
function unpin(v) {
    const free = [];
    for (const d of v.data) {
        const n = (pins.get(d) ?? 1) - 1;
        if (n > 0)
            pins.set(d, n);
        else {
            pins.delete(d);
            const version = owner.get(d);
            if (version !== undefined)
                free.push({ version, buffer: d });
        }
    }
    if (free.length > 0)
        post({ type: 'release', items: free });
}
function forget(s, version) {
    const m = held(s);
    const v = m.get(version);
    if (!v)
        return;
    m.delete(version);
    unpin(v);
}
/**
 * The K newest versions, and the two newest replicated ones: when a node is lost with its
 * memory, the newest version its buddy received is the one every member must still hold (the
 * newer of the two may be in flight when the fault comes).
 */
function remember(s, v) {
    const m = held(s);
    forget(s, v.meta.version);
    m.set(v.meta.version, v);
    pin(v);
    const sorted = [...m.keys()].sort((a, b) => b - a);
    const kept = new Set(sorted.slice(0, cfg.keep));
    for (const r of sorted.filter(isReplicated).slice(0, 2))
        kept.add(r);
    for (const old of sorted)
        if (!kept.has(old))
            forget(s, old);
}
const isReplicated = (version) => version % cfg.replicateEvery === 0;
function corrupt(s, version, source, message) {
    post({ type: 'event', event: 'state_corrupt', fields: { slot: s, version, source, message } });
}
/**
 * Checksums are computed when a version is first copied anywhere (disk, replica) or listed in a
 * recovery, not at commit: on a machine whose cores are all busy, a CRC of every version costs
 * step time even on this thread, and most versions are superseded before anyone reads them.
 */
const sealed = new WeakSet();
function seal(v) {
    if (!sealed.has(v)) {
        v.meta.entries.forEach((e, i) => (e.crc = checksum(v.data[i])));
        sealed.add(v);
    }
    return v;
}
/** Memory copies of a slot, re-verified now; a corrupt one is reported and dropped. */
function intactInMemory(s) {
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
async function peers() {
    const { kvs } = await store.list(`rollcall/${cfg.job}/keeper/`);
    for (const kv of kvs) {
        const node = Number(kv.key.slice(kv.key.lastIndexOf('/') + 1));
        if (node === cfg.node)
            continue;
        const c = clients.get(node);
        if (!c || c.address !== kv.value) {
            c?.close();
            clients.set(node, new KeeperClient(kv.value, token));
        }
    }
    return clients;
}
// ---- commits: checksum, keep, persist, replicate ----
function commit(v) {
    for (const d of v.data)
        owner.set(d, v.meta.version);
    remember(v.meta.slot, v);
    for (let i = commitWaiters.length - 1; i >= 0; i--) {
        const w = commitWaiters[i];
        if (w.version <= v.meta.version) {
            commitWaiters.splice(i, 1);
            w.run();
        }
    }
    toDisk.offer(v);
    if (isReplicated(v.meta.version))
        toBuddy.offer(v);
}
/**
 * Replicas are made of every Nth version, the same versions on every node, so that a replaced
 * node's buddy holds a version the other members hold too. Only the newest offered waits: when
 * the buddy cannot keep up, versions in between are skipped rather than queued without bound.
 * Every Nth and not every version, because each replica costs a checksum of the state on a
 * core the training shares (docs/benchmarks.md).
 */
class Newest {
    work;
    next;
    busy = false;
    constructor(work) {
        this.work = work;
    }
    offer(v) {
        if (this.next)
            unpin(this.next);
        this.next = v;
        pin(v);
        if (!this.busy)
            void this.drain();
    }
    async drain() {
        this.busy = true;
        for (;;) {
            const v = this.next;
            if (!v)
                break;
            this.next = undefined;
            if (held(v.meta.slot).has(v.meta.version))
                await this.work(v).catch(() => false);
            unpin(v);
        }
        this.busy = false;
    }
}
/**
 * Disk copies are made of every Nth version, the same versions on every node, so that after a
 * full stop the nodes' files have versions in common. They are queued, not coalesced, for the
 * same reason; only more than K waiting drops the oldest.
 */
class Aligned {
    queue = [];
    draining;
    offer(v) {
        if (v.meta.version % cfg.persistEvery !== 0)
            return;
        pin(v);
        this.queue.push(v);
        while (this.queue.length > cfg.keep)
            unpin(this.queue.shift());
        this.draining ??= this.drain().finally(() => (this.draining = undefined));
    }
    async drain() {
        for (let v = this.queue.shift(); v; v = this.queue.shift()) {
            if (held(v.meta.slot).has(v.meta.version))
                await persist(seal(v));
            unpin(v);
        }
    }
    /** Resolves when the queue is written, or after `ms` (a disk that hangs must not hang us). */
    async idle(ms) {
        let t;
        await Promise.race([this.draining, new Promise((r) => (t = setTimeout(r, ms)))]);
        clearTimeout(t);
    }
}
const toDisk = new Aligned();
const toBuddy = new Newest((v) => replicate(seal(v)));
async function persist(v) {
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
        }
        finally {
            await fh.close();
        }
        // rename is atomic: a reader sees the old set of files or the new one, never half a file.
        await rename(tmp, path);
        const files = (await readdir(slotDir(s))).filter((f) => f.endsWith('.rcs')).sort();
        for (const f of files.slice(0, Math.max(0, files.length - cfg.keep)))
            await unlink(join(slotDir(s), f)).catch(() => undefined);
        return true;
    }
    catch (e) {
        post({ type: 'event', event: 'state_error', fields: { slot: s, version, message: `could not persist: ${e.message}` } });
        return false;
    }
}
async function replicate(v) {
    if (buddy === undefined || buddy === cfg.node)
        return false;
    try {
        let c = clients.get(buddy);
        if (!c)
            c = (await peers()).get(buddy);
        if (!c)
            return false;
        const need = await c.request({ op: 'push', meta: v.meta }, undefined, REMOTE_TIMEOUT_MS);
        const idx = need.head.need ?? [];
        if (idx.length === 0)
            return true;
        const body = Buffer.concat(idx.map((i) => v.data[i]));
        await c.request({ op: 'push_data', slot: v.meta.slot, version: v.meta.version }, body, REMOTE_TIMEOUT_MS);
        return true;
    }
    catch {
        return false; // the buddy is gone or busy; the version still has its disk copy
    }
}
// ---- finding and fetching versions ----
async function list(s) {
    const found = new Map();
    for (const [v, sv] of intactInMemory(s))
        found.set(v, { step: sv.meta.step, from: ['memory'] });
    // Our own newest versions are in memory, and replicas are never newer; but when a slot must
    // come from disk elsewhere (a node lost with its buddy), the common version may be older
    // than what memory keeps, so the disk copies are listed too.
    const inMemory = found.size > 0;
    if (inMemory) {
        for (const { version, step } of await listDisk(s)) {
            const f = found.get(version) ?? { step, from: [] };
            f.from.push('disk');
            found.set(version, f);
        }
    }
    else {
        const remote = [...(await peers()).entries()].map(async ([node, c]) => {
            try {
                const r = await c.request({ op: 'list', slot: s }, undefined, REMOTE_TIMEOUT_MS);
                for (const e of r.head.versions ?? []) {
                    const f = found.get(e.version) ?? { step: e.step, from: [] };
                    f.from.push(`node:${node}`);
                    found.set(e.version, f);
                }
            }
            catch {
                // an unreachable keeper holds nothing we can use
            }
        });
        const [, disk] = await Promise.all([Promise.all(remote), listDisk(s)]);
        for (const { version, step } of disk) {
            const f = found.get(version) ?? { step, from: [] };
            f.from.push('disk');
            found.set(version, f);
        }
    }
    sources.set(s, new Map([...found].map(([v, f]) => [v, f.from])));
    return [...found].map(([version, f]) => ({ version, step: f.step })).sort((a, b) => a.version - b.version);
}
async function listDisk(s) {
    let files;
    try {
        files = (await readdir(slotDir(s))).filter((f) => /^v\d+\.rcs$/.test(f));
    }
    catch {
        return [];
    }
    const out = [];
    for (const f of files) {
        const path = join(slotDir(s), f);
        try {
            const v = decodeVersion(await readFile(path), path);
            out.push({ version: v.meta.version, step: v.meta.step });
        }
        catch (e) {
            corrupt(s, Number(f.slice(1, -4)), path, e.message);
        }
    }
    return out;
}
async function fetch(s, version) {
    const own = intactInMemory(s).get(version);
    if (own)
        return own;
    for (const from of sources.get(s)?.get(version) ?? ['disk']) {
        try {
            let v;
            if (from === 'disk') {
                v = decodeVersion(await readFile(fileOf(s, version)), fileOf(s, version));
            }
            else {
                const c = (await peers()).get(Number(from.slice(5)));
                if (!c)
                    continue;
                const r = await c.request({ op: 'get', slot: s, version }, undefined, REMOTE_TIMEOUT_MS);
                if (r.head.ok !== true)
                    continue;
                v = decodeVersion(r.body, `version ${version} of slot ${s} from ${from}`);
            }
            sealed.add(v);
            remember(s, v);
            return v;
        }
        catch (e) {
            corrupt(s, version, from, e.message);
        }
    }
    throw new Error(`version ${version} of slot ${s} is not held intact anywhere`);
}
async function truncate(s, after) {
    for (const v of [...held(s).keys()])
        if (v > after)
            forget(s, v);
    // A resumed job must not find versions of a future that was rolled back.
    await toDisk.idle(REMOTE_TIMEOUT_MS);
    try {
        for (const f of await readdir(slotDir(s))) {
            const m = /^v(\d+)\.rcs$/.exec(f);
            // A version in memory was committed after the rollback (the program did not wait for us).
            if (m && Number(m[1]) > after && !held(s).has(Number(m[1])))
                await unlink(join(slotDir(s), f)).catch(() => undefined);
        }
    }
    catch {
        // no directory yet
    }
}
// ---- serving other keepers ----
function serve(sock) {
    const reader = new MessageReader();
    let authed = false;
    let pending;
    // Small request/reply exchanges: Nagle plus delayed ACKs would add ~40 ms to each.
    sock.setNoDelay(true);
    const reply = (head, body) => {
        sock.cork();
        for (const b of frame(head, body))
            sock.write(b);
        sock.uncork();
    };
    const handle = (m) => {
        const h = m.head;
        if (!authed) {
            if (h.op === 'auth' && tokenOk(token, h.token))
                authed = true;
            else
                sock.destroy();
            return;
        }
        if (h.op === 'list') {
            reply({ versions: [...intactInMemory(Number(h.slot)).values()].map((v) => ({ version: v.meta.version, step: v.meta.step })) });
        }
        else if (h.op === 'get') {
            const v = intactInMemory(Number(h.slot)).get(Number(h.version));
            reply({ ok: v !== undefined }, v ? encodeVersion(v) : undefined);
        }
        else if (h.op === 'push') {
            const parsed = VersionMetaSchema.safeParse(h.meta);
            if (!parsed.success)
                return void sock.destroy();
            const meta = parsed.data;
            // Entries we already hold byte for byte (same size and CRC) are not sent again: in a
            // data-parallel job our own commit of the same version has the same weights. Ranks move
            // in step, so if ours has not arrived yet it is usually a moment away: wait briefly.
            const answer = () => {
                const have = meta.entries.map((e) => findEntry(meta.version, e.bytes, e.crc));
                const need = have.flatMap((d, i) => (d ? [] : [i]));
                if (need.length === 0) {
                    // Nothing to send: the replica is made of what we hold already.
                    const v = { meta, data: have };
                    sealed.add(v);
                    remember(meta.slot, v);
                }
                else
                    pending = { meta, have };
                reply({ need });
            };
            if (slot >= 0 && ownNewest() < meta.version)
                afterOwnCommit(meta.version, DEDUP_WAIT_MS, answer);
            else
                answer();
        }
        else if (h.op === 'push_data' && pending) {
            const { meta, have } = pending;
            pending = undefined;
            let at = 0;
            const data = have.map((d, i) => {
                if (d)
                    return d;
                const n = meta.entries[i].bytes;
                const copy = new Uint8Array(new SharedArrayBuffer(n));
                copy.set(m.body.subarray(at, at + n));
                at += n;
                return copy;
            });
            const v = { meta, data };
            if (corruptEntries(v).length === 0) {
                sealed.add(v);
                remember(meta.slot, v);
            }
            reply({ ok: true });
        }
        else {
            sock.destroy();
        }
    };
    sock.on('data', (d) => {
        try {
            reader.push(d, handle);
        }
        catch {
            sock.destroy();
        }
    });
    sock.on('error', () => undefined);
}
const DEDUP_WAIT_MS = 50;
const commitWaiters = [];
function ownNewest() {
    return Math.max(-1, ...held(slot).keys());
}
/** Runs `run` once our own commit reaches `version`, or after `ms`, whichever comes first. */
function afterOwnCommit(version, ms, run) {
    let done = false;
    const waiter = { version, run: () => once() };
    const once = () => {
        if (done)
            return;
        done = true;
        clearTimeout(t);
        const i = commitWaiters.indexOf(waiter);
        if (i >= 0)
            commitWaiters.splice(i, 1);
        run();
    };
    const t = setTimeout(once, ms);
    commitWaiters.push(waiter);
}
/** Our own copy of the same version is the likely match, and the only one worth a checksum. */
function findEntry(version, bytes, crc) {
    const own = slot >= 0 ? held(slot).get(version) : undefined;
    if (own) {
        seal(own);
        const i = own.meta.entries.findIndex((e) => e.bytes === bytes && e.crc === crc);
        if (i >= 0)
            return own.data[i];
    }
    for (const m of memory.values()) {
        for (const v of m.values()) {
            // Only checksums we have already: computing one per held version to find a match cost
            // more than the transfer it might save.
            if (!sealed.has(v))
                continue;
            const i = v.meta.entries.findIndex((e) => e.bytes === bytes && e.crc === crc);
            if (i >= 0)
                return v.data[i];
        }
    }
    return undefined;
}
// ---- the program's requests ----
port.on('message', (m) => {
    switch (m.type) {
        case 'init':
            void init(m);
            return;
        case 'topology':
            slot = m.slot;
            buddy = m.buddy;
            return;
        case 'commit':
            commit({ meta: m.meta, data: m.data });
            return;
        case 'list':
            list(m.slot).then((versions) => post({ type: 'reply', id: m.id, versions }), (e) => post({ type: 'reply', id: m.id, error: e.message }));
            return;
        case 'fetch':
            fetch(m.slot, m.version).then((v) => post({ type: 'reply', id: m.id, version: { meta: v.meta, data: v.data } }), (e) => post({ type: 'reply', id: m.id, error: e.message }));
            return;
        case 'truncate':
            truncate(m.slot, m.after).then(() => post({ type: 'reply', id: m.id }), (e) => post({ type: 'reply', id: m.id, error: e.message }));
            return;
    }
});
async function init(m) {
    cfg = m;
    token = keeperToken(m.secret, m.job);
    const server = createServer(serve);
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    server.unref();
    const a = server.address();
    const address = `${a.address}:${a.port}`;
    store = await connectStore(m.store, { secret: m.secret });
    await store.put(keeperKey(m.node), address);
    post({ type: 'ready', address });
}
//# sourceMappingURL=keeper-thread.js.map