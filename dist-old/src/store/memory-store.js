import { performance } from 'node:perf_hooks';
import { ClosedError, InvalidArgumentError, LeaseExpiredError } from '../errors.js';
import { checkCount, checkKey, checkPrefix, checkTtl, checkValue } from './wire.js';
/** A clock tests move by hand, so leases expire exactly when the test says. */
export class ManualClock {
    t;
    constructor(t = 0) {
        this.t = t;
    }
    now() {
        return this.t;
    }
    advance(ms) {
        this.t += ms;
    }
}
// Monotonic, so a wall-clock step (NTP) neither expires every lease nor keeps them all alive.
const monotonic = { now: () => performance.now() };
const keyOf = (ev) => (ev.type === 'put' ? ev.kv.key : ev.key);
/**
 * The whole store in one process. Every write or delete takes the next store-wide revision and
 * appends exactly one event to the history, so history[i] has revision `compacted + 1 + i`.
 */
export class MemoryStore {
    clock;
    historyLimit;
    autoExpire;
    kvs = new Map();
    leases = new Map();
    watchers = new Set();
    history = [];
    revision = 0;
    /** Newest revision dropped from the history. */
    compacted = 0;
    nextLeaseId = 1;
    /** No lease expires before this; lets most calls skip the scan. */
    nextExpiry = Infinity;
    timer;
    timerAt = Infinity;
    closed = false;
    constructor(opts = {}) {
        this.clock = opts.clock ?? monotonic;
        this.historyLimit = opts.historyLimit ?? 10_000;
        checkCount(this.historyLimit, 'historyLimit');
        this.autoExpire = opts.autoExpire ?? true;
    }
    async get(key) {
        this.begin();
        checkKey(key);
        return this.kvs.get(key);
    }
    async list(prefix) {
        this.begin();
        checkPrefix(prefix);
        const kvs = [...this.kvs.values()].filter((kv) => kv.key.startsWith(prefix));
        kvs.sort((a, b) => (a.key < b.key ? -1 : 1));
        return { kvs, revision: this.revision };
    }
    async put(key, value, opts = {}) {
        this.begin();
        checkKey(key);
        checkValue(value);
        return this.write(key, value, opts.lease ?? 0).modRevision;
    }
    async compareAndSet(key, expectedRevision, value, opts = {}) {
        this.begin();
        checkKey(key);
        checkCount(expectedRevision, 'expectedRevision');
        checkValue(value);
        const current = this.kvs.get(key);
        if ((current?.modRevision ?? 0) !== expectedRevision)
            return { ok: false, current };
        return { ok: true, current: this.write(key, value, opts.lease ?? 0) };
    }
    async delete(key) {
        this.begin();
        checkKey(key);
        return this.remove(key);
    }
    async grantLease(ttlMs) {
        this.begin();
        checkTtl(ttlMs);
        const state = { id: this.nextLeaseId++, ttlMs, expiresAt: this.clock.now() + ttlMs, keys: new Set() };
        this.leases.set(state.id, state);
        this.nextExpiry = Math.min(this.nextExpiry, state.expiresAt);
        this.armTimer();
        return { id: state.id, ttlMs, keepAlive: () => this.keepAliveLease(state.id), revoke: () => this.revokeLease(state.id) };
    }
    /** By id, for the TCP server, whose clients hold only the number. */
    async keepAliveLease(id) {
        this.begin();
        checkCount(id, 'lease id');
        const state = this.leases.get(id);
        if (!state)
            throw new LeaseExpiredError(`lease ${id} has expired or was revoked`);
        // nextExpiry stays a valid lower bound; the scan it triggers recomputes it.
        state.expiresAt = this.clock.now() + state.ttlMs;
    }
    async revokeLease(id) {
        this.begin();
        checkCount(id, 'lease id');
        const state = this.leases.get(id);
        if (state)
            this.dropLease(state);
    }
    async watch(prefix, onEvent, opts = {}) {
        this.begin();
        checkPrefix(prefix);
        const from = opts.fromRevision;
        if (from !== undefined)
            checkCount(from, 'fromRevision');
        const w = { prefix, onEvent, onError: opts.onError, closed: false };
        this.watchers.add(w);
        if (from !== undefined && from <= this.revision) {
            if (from <= this.compacted) {
                const err = new InvalidArgumentError(`cannot watch from revision ${from}: the store keeps history only from revision ${this.compacted + 1}; list again and watch from the list's revision + 1`);
                queueMicrotask(() => this.breakWatch(w, err));
            }
            else {
                for (const ev of this.history.slice(from - this.compacted - 1))
                    if (keyOf(ev).startsWith(prefix))
                        this.deliver(w, ev);
            }
        }
        return {
            close: () => {
                w.closed = true;
                this.watchers.delete(w);
            },
        };
    }
    /** Expires every lease whose time has come; tests with a ManualClock call it after advancing. */
    tick() {
        if (this.closed)
            return;
        const now = this.clock.now();
        if (now < this.nextExpiry)
            return;
        let next = Infinity;
        for (const state of this.leases.values()) {
            if (state.expiresAt <= now)
                this.dropLease(state);
            else
                next = Math.min(next, state.expiresAt);
        }
        this.nextExpiry = next;
        this.armTimer();
    }
    async close() {
        if (this.closed)
            return;
        this.closed = true;
        clearTimeout(this.timer);
        this.timer = undefined;
        for (const w of this.watchers)
            this.breakWatch(w, new ClosedError('store closed'));
    }
    /** Every call starts here, so an expired lease is never visible even between timer runs. */
    begin() {
        if (this.closed)
            throw new ClosedError('store closed');
        this.tick();
    }
    write(key, value, leaseId) {
        checkCount(leaseId, 'lease');
        const lease = leaseId === 0 ? undefined : this.leases.get(leaseId);
        if (leaseId !== 0 && !lease)
            throw new LeaseExpiredError(`cannot put ${key}: lease ${leaseId} has expired or was revoked`);
        const old = this.kvs.get(key);
        if (old && old.lease !== leaseId)
            this.leases.get(old.lease)?.keys.delete(key);
        lease?.keys.add(key);
        // Frozen, so the same object can go to callers and into the history without copies.
        const kv = Object.freeze({ key, value, modRevision: ++this.revision, lease: leaseId });
        this.kvs.set(key, kv);
        this.emit({ type: 'put', kv });
        return kv;
    }
    remove(key) {
        const old = this.kvs.get(key);
        if (!old)
            return false;
        this.kvs.delete(key);
        this.leases.get(old.lease)?.keys.delete(key);
        this.emit(Object.freeze({ type: 'delete', key, modRevision: ++this.revision }));
        return true;
    }
    dropLease(state) {
        this.leases.delete(state.id);
        for (const key of [...state.keys])
            this.remove(key);
    }
    emit(ev) {
        this.history.push(ev);
        if (this.history.length > this.historyLimit) {
            this.history.shift();
            this.compacted++;
        }
        for (const w of this.watchers)
            if (keyOf(ev).startsWith(w.prefix))
                this.deliver(w, ev);
    }
    /**
     * Deferred, so a callback that writes to the store cannot make other watchers see events out
     * of revision order; microtasks run FIFO, so per-watcher order is kept.
     */
    deliver(w, ev) {
        queueMicrotask(() => {
            if (w.closed)
                return;
            try {
                w.onEvent(ev);
            }
            catch (e) {
                // A throwing callback must not take the writer down; the watch breaks instead.
                this.breakWatch(w, e instanceof Error ? e : new Error(String(e)));
            }
        });
    }
    breakWatch(w, err) {
        if (w.closed)
            return;
        w.closed = true;
        this.watchers.delete(w);
        w.onError?.(err);
    }
    armTimer() {
        if (!this.autoExpire || this.closed)
            return;
        if (this.leases.size === 0) {
            clearTimeout(this.timer);
            this.timer = undefined;
            this.timerAt = Infinity;
            return;
        }
        if (this.timer && this.timerAt <= this.nextExpiry)
            return;
        clearTimeout(this.timer);
        this.timerAt = this.nextExpiry;
        this.timer = setTimeout(() => {
            this.timer = undefined;
            this.timerAt = Infinity;
            this.tick();
            // tick() re-arms only when something was due; a timer that fired early must re-arm too.
            this.armTimer();
        }, Math.max(0, this.nextExpiry - this.clock.now()));
        this.timer.unref();
    }
}
//# sourceMappingURL=memory-store.js.map