import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { InvalidArgumentError, NoCommonStateError, TimeoutError } from '../errors.js';
import { SnapshotPool } from './snapshot-pool.js';
const KEEPER = fileURLToPath(new URL('../state/keeper-thread.js', import.meta.url));
/** Versions looked at when choosing the common one: far more than any node keeps. */
const WINDOW = 64;
const KEEPER_TIMEOUT_MS = 30_000;
function kindOf(v) {
    if (v instanceof Float32Array)
        return 'float32';
    if (v instanceof Float64Array)
        return 'float64';
    if (v instanceof Int32Array)
        return 'int32';
    if (ArrayBuffer.isView(v))
        throw new InvalidArgumentError(`state entries may be Float32Array, Float64Array, Int32Array or JSON values, not ${v.constructor.name}`);
    return 'json';
}
/** The program's side of the keeper thread. */
export class Keeper {
    opts;
    worker;
    nextId = 1;
    pending = new Map();
    ready;
    constructor(opts, onEvent) {
        this.opts = opts;
        this.worker = new Worker(KEEPER);
        this.worker.unref();
        this.ready = new Promise((resolve, reject) => {
            this.worker.once('error', reject);
            this.worker.on('message', (m) => {
                if (m.type === 'ready')
                    resolve();
                else if (m.type === 'reply') {
                    const p = this.pending.get(m.id);
                    this.pending.delete(m.id);
                    p?.(m);
                }
                else if (m.type === 'event')
                    onEvent(m.event, m.fields);
                else if (m.type === 'release')
                    for (const r of m.items)
                        this.buffers.give(r.version, r.buffer);
            });
        });
        this.post({ type: 'init', ...opts });
    }
    /** Where commits take their snapshot buffers, and released ones go back to. */
    buffers = new SnapshotPool();
    /**
     * Requests see every version committed so far: a recovery lists and fetches them, and a
     * truncate must not miss one.
     */
    post(m) {
        this.handOver();
        this.worker.postMessage(m);
    }
    /**
     * A new version. Only every Nth (the ones replicated or persisted) goes to the keeper thread
     * now. The others stay here, the newest K of them, and go to the keeper only if a recovery
     * needs them (every request hands them over first); older ones are reused at once. Handing
     * every commit to the thread woke it once per step, and a woken thread on a busy core cost
     * the program more than half the copy (170 µs per commit, median, 4 MiB steps on 2 cores).
     */
    commit(m) {
        const v = m.meta.version;
        const shared = v % this.opts.replicateEvery === 0 || v % this.opts.persistEvery === 0;
        if (shared)
            this.postSoon(m);
        this.held.push({ m, shared });
        while (this.held.length > this.opts.keep) {
            const old = this.held.shift();
            if (!old.shared)
                for (const d of old.m.data)
                    this.buffers.give(old.m.meta.version, d);
        }
    }
    /** Versions not handed to the keeper yet, newest last: at most K. */
    held = [];
    soon = [];
    /** On the next turn of the event loop: by then the program is usually waiting for the network. */
    postSoon(m) {
        this.soon.push(m);
        if (this.soon.length === 1)
            setImmediate(() => this.flushSoon());
    }
    flushSoon() {
        for (const m of this.soon.splice(0))
            this.worker.postMessage(m);
    }
    handOver() {
        this.flushSoon();
        for (const h of this.held)
            if (!h.shared)
                this.worker.postMessage(h.m);
        this.held = [];
    }
    request(m) {
        const id = this.nextId++;
        return new Promise((resolve, reject) => {
            const timer = setTimeout(() => {
                this.pending.delete(id);
                reject(new TimeoutError(`state keeper did not answer ${m.type} within ${KEEPER_TIMEOUT_MS} ms`));
            }, KEEPER_TIMEOUT_MS);
            this.pending.set(id, (r) => {
                clearTimeout(timer);
                if (r.error)
                    reject(new Error(r.error));
                else
                    resolve(r);
            });
            this.post({ ...m, id });
        });
    }
    terminate() {
        return this.worker.terminate();
    }
}
/**
 * The program's registered state: typed arrays (restored in place, so references stay valid)
 * and JSON values (replaced in `values`), plus the step. `commit()` copies it into a new version
 * and returns at once; checksums, the state directory and the replica are the keeper's work.
 *
 * A program that writes the next value of an array out of place (`next[i] = f(cur[i])`) can
 * skip that copy: it writes into `draft(name)`, and the commit takes the draft as the version's
 * bytes and makes it the new `values[name]`. That array then belongs to a committed version:
 * the program reads it but never writes it, and writes the next value into the next draft.
 */
export class State {
    values;
    host;
    keeper;
    step = 0;
    /** The last version committed or restored; -1 before the first. */
    version = -1;
    /** The furthest step this program has reached, across rollbacks: what a fault costs is measured from it. */
    furthest = 0;
    names;
    drafts = new Map();
    /** Entries whose current value is an adopted draft, and the version that owns it. */
    adopted = new Map();
    constructor(values, host, keeper) {
        this.values = values;
        this.host = host;
        this.keeper = keeper;
        this.names = Object.keys(values);
        if (this.names.length === 0)
            throw new InvalidArgumentError('state needs at least one entry');
        for (const n of this.names)
            kindOf(values[n]);
    }
    /**
     * An array of the same type and length as `values[name]`, to write this entry's next value
     * into. Until the next `commit()` it is the program's alone (the same one is returned until
     * then); its contents at first are undefined, so write every element. After a rollback,
     * drafts not committed are dropped.
     */
    draft(name) {
        const cur = this.values[name];
        if (cur === undefined)
            throw new InvalidArgumentError(`state has no entry "${name}"`);
        if (kindOf(cur) === 'json')
            throw new InvalidArgumentError(`state entry "${name}" is a JSON value; drafts are for typed arrays`);
        let d = this.drafts.get(name);
        if (!d) {
            d = this.fresh(cur);
            this.drafts.set(name, d);
        }
        return d;
    }
    /**
     * Makes a new version of the state as it is now. Costs one copy of each entry, except those
     * written into a draft: the version takes a draft as it is.
     */
    commit() {
        if (!Number.isInteger(this.step) || this.step < 0)
            throw new InvalidArgumentError(`state.step must be a non-negative integer, got ${this.step}`);
        const version = this.version + 1;
        const entries = [];
        const data = [];
        const values = this.values;
        // Every entry is checked before any is adopted: a bad one leaves the state as it was.
        const kinds = this.names.map((name) => kindOf(values[name]));
        for (const [i, name] of this.names.entries()) {
            const v = values[name];
            const kind = kinds[i];
            const d = this.drafts.get(name);
            let bytes;
            if (d) {
                bytes = bytesOf(d);
                values[name] = d;
                this.adopted.set(name, version);
            }
            else {
                const src = kind === 'json' ? Buffer.from(JSON.stringify(v)) : bytesOf(v);
                bytes = this.keeper.buffers.take(src.byteLength);
                bytes.set(src);
            }
            data.push(bytes);
            entries.push({ name, kind, bytes: bytes.byteLength, crc: 0 });
        }
        this.drafts.clear();
        this.keeper.buffers.liveFrom = Math.min(...this.adopted.values());
        this.version = version;
        this.furthest = Math.max(this.furthest, this.step);
        this.keeper.commit({ type: 'commit', meta: { slot: this.host.slot, version, step: this.step, entries }, data });
        return version;
    }
    fresh(like) {
        const b = this.keeper.buffers.take(like.byteLength);
        const Ctor = like.constructor;
        return new Ctor(b.buffer, b.byteOffset, like.length);
    }
    /**
     * After a membership change (and at the start): agree with every member on the newest version
     * all of them hold or can fetch intact, and restore it. Every member must call it at the same
     * point; `Job.run()` does.
     */
    async sync() {
        const host = this.host;
        await this.keeper.ready;
        this.keeper.post({ type: 'topology', slot: host.slot, buddy: host.buddy });
        this.furthest = Math.max(this.furthest, this.step);
        const avail = (await this.keeper.request({ type: 'list', slot: host.slot })).versions ?? [];
        const top = avail.reduce((m, a) => Math.max(m, a.version), -1);
        const agg = await host.allreduce(new Float64Array([top, this.furthest]), 'max');
        const vmax = agg[0];
        const furthest = agg[1];
        if (vmax < 0) {
            // Nobody has committed anything: this is the start. The initial state is version 0.
            this.commit();
            this.finish(0, furthest);
            return;
        }
        const mask = new Int32Array(WINDOW);
        for (const a of avail)
            if (vmax - a.version < WINDOW)
                mask[vmax - a.version] = 1;
        const common = await host.allreduce(mask, 'min');
        const i = common.indexOf(1);
        if (i < 0) {
            throw new NoCommonStateError(`generation ${host.generation}: no version of the state is held intact by every member (newest anywhere: ${vmax}; this node's slot ${host.slot} has ${avail.map((a) => a.version).join(',') || 'none'})`, { node: host.node, rank: host.rank });
        }
        const version = vmax - i;
        const r = await this.keeper.request({ type: 'fetch', slot: host.slot, version });
        this.restore(r.version);
        // Not awaited: the keeper handles messages in order, so later commits land after it, and
        // the program resumes without waiting for the disk.
        this.keeper.request({ type: 'truncate', slot: host.slot, after: version }).catch((e) => host.report('state_error', { message: e.message }));
        if (host.rank === 0)
            host.report('common_state_selected', { generation: host.generation, version, step: this.step });
        // After a resume nothing was reached beyond the restored step: nothing is redone.
        this.finish(Math.max(0, furthest - this.step), Math.max(furthest, this.step));
    }
    finish(stepsRedone, furthest) {
        this.furthest = furthest;
        this.host.resumed(this.host.generation, stepsRedone);
    }
    restore(v) {
        const values = this.values;
        v.meta.entries.forEach((e, i) => {
            const bytes = v.data[i];
            if (!this.names.includes(e.name))
                throw new InvalidArgumentError(`stored version ${v.meta.version} has entry "${e.name}", which this program does not register`);
            const cur = values[e.name];
            if (e.kind === 'json') {
                values[e.name] = JSON.parse(Buffer.from(bytes).toString('utf8'));
                return;
            }
            const arr = cur;
            if (kindOf(cur) !== e.kind || arr.byteLength !== e.bytes) {
                throw new InvalidArgumentError(`stored entry "${e.name}" is ${e.kind}[${e.bytes} bytes], the program's is ${kindOf(cur)}[${arr.byteLength} bytes]`);
            }
            // An adopted draft belongs to a version (perhaps the one being restored, perhaps one
            // about to be truncated): it is never written, so the restored bytes go to a new array.
            const into = this.adopted.has(e.name) ? this.fresh(arr) : arr;
            bytesOf(into).set(bytes);
            values[e.name] = into;
        });
        this.drafts.clear();
        this.adopted.clear();
        this.keeper.buffers.liveFrom = Infinity;
        this.step = v.meta.step;
        this.version = v.meta.version;
    }
}
const bytesOf = (a) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
//# sourceMappingURL=state.js.map