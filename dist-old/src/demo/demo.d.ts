export interface DemoOptions {
    nodes: number;
    spares: number;
    /** Undefined: two epochs of the real data set (85 % test accuracy), or 600 steps of the synthetic one. */
    steps: number | undefined;
    /** Step at which node 2's program is killed; 0: no fault; undefined: half-way. */
    crashAt: number | undefined;
    synthetic: boolean;
    verify: boolean;
    events: string | undefined;
    json: boolean;
}
export interface DemoSummary {
    nodes: number;
    spares: number;
    steps: number;
    accuracy: number;
    faults: number;
    recoveries: {
        generation: number;
        ms: number;
        steps_redone: number;
    }[];
    digest: string;
    fault_free_digest: string | null;
    match: boolean | null;
    synthetic: boolean;
    seconds: number;
}
/**
 * The main job: Fashion-MNIST training on 4 nodes and a warm spare, a crash injected half-way,
 * and the recovery shown as it happens. With --verify the same job runs again without the
 * fault, and the two final digests must be equal (replace mode is bit-identical).
 */
export declare function runDemo(o: DemoOptions, out: (line: string) => void, err: NodeJS.WriteStream): Promise<DemoSummary>;
