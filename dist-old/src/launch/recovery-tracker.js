/**
 * Turns the event stream into recovery times. One incident opens at the first fault and closes
 * when every member of the then-current generation has resumed in it, so a second fault during
 * a recovery lengthens that recovery instead of starting a second, overlapping one.
 */
export class RecoveryTracker {
    open;
    resumed = new Map();
    injected(ts, generation) {
        this.open ??= { t0: ts, from: 'fault_injected', generation };
    }
    observe(e, record) {
        if (e.event === 'fault_detected' && typeof e.generation === 'number') {
            this.open ??= { t0: e.ts, from: 'fault_detected', generation: e.generation };
        }
        else if (e.event === 'program_resumed' && typeof e.generation === 'number' && typeof e.node === 'number') {
            let m = this.resumed.get(e.generation);
            if (!m)
                this.resumed.set(e.generation, (m = new Map()));
            m.set(e.node, e.ts);
        }
        return this.check(record);
    }
    check(record) {
        const o = this.open;
        if (!o || record.state !== 'running' || record.generation <= o.generation)
            return undefined;
        const m = this.resumed.get(record.generation);
        if (!m || !record.members.every((n) => m.has(n)))
            return undefined;
        this.open = undefined;
        const last = Math.max(...record.members.map((n) => m.get(n)));
        return { generation: record.generation, ms: last - o.t0, from: o.from, faultTs: o.t0 };
    }
}
//# sourceMappingURL=recovery-tracker.js.map