/**
 * Who holds which membership record, from the watch events each node's FMS handled. Read with
 * JSON.parse and the fields every version of the record has (generation, members, spares,
 * state), not with the FMS's schema: the simulator observes the record, it does not judge it.
 */
export interface HeldRecord {
  readonly generation: number;
  /** Members and spares: the nodes still in the job by this record. */
  readonly inJob: ReadonlySet<number>;
  readonly failedJob: boolean;
}

export class MembershipView {
  /** Parsed once per revision: every node is delivered the same value. */
  private readonly byRevision = new Map<number, HeldRecord>();
  private readonly held: (HeldRecord | undefined)[];
  /** The newest record written so far, to see who each new generation removed. */
  private newest: HeldRecord | undefined;
  /** Nodes some record removed from the job, in the order they were removed, and when. */
  readonly removed = new Map<number, number>();
  /** Set by a delivery; the cluster re-checks its open faults only then. */
  dirty = false;

  constructor(total: number) {
    this.held = new Array<HeldRecord | undefined>(total);
  }

  /** A node's FMS handled the record written at `modRevision`. */
  delivered(node: number, modRevision: number, value: string, now: number): void {
    let rec = this.byRevision.get(modRevision);
    if (!rec) {
      rec = parse(value);
      if (!rec) return;
      this.byRevision.set(modRevision, rec);
      if (this.newest && rec.generation > this.newest.generation) {
        for (const n of this.newest.inJob) if (!rec.inJob.has(n) && !this.removed.has(n)) this.removed.set(n, now);
      }
      if (!this.newest || rec.generation >= this.newest.generation) this.newest = rec;
    }
    const cur = this.held[node];
    if (!cur || rec.generation >= cur.generation) this.held[node] = rec;
    this.dirty = true;
  }

  /** The record as this node last handled it. */
  of(node: number): HeldRecord | undefined {
    return this.held[node];
  }

  get generation(): number {
    return this.newest?.generation ?? -1;
  }

  get jobFailed(): boolean {
    return this.newest?.failedJob ?? false;
  }

  /** Seed with the record every node starts from (generation 0, read before the watch). */
  seed(modRevision: number, value: string): void {
    const rec = parse(value);
    if (!rec) return;
    this.byRevision.set(modRevision, rec);
    this.newest = rec;
    this.held.fill(rec);
  }
}

function parse(value: string): HeldRecord | undefined {
  try {
    const r = JSON.parse(value) as { generation?: unknown; members?: unknown; spares?: unknown; state?: unknown };
    if (typeof r.generation !== 'number' || !Array.isArray(r.members)) return undefined;
    const spares = Array.isArray(r.spares) ? (r.spares as number[]) : [];
    return { generation: r.generation, inJob: new Set([...(r.members as number[]), ...spares]), failedJob: r.state === 'failed' };
  } catch {
    return undefined;
  }
}
