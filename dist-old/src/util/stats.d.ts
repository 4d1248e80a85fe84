export declare function median(xs: readonly number[]): number;
