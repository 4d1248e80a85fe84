import type { NumericArray, ReduceOp } from '../../src/comm/dtype.js';
import { rng } from './group.js';

export type Ctor = Float32ArrayConstructor | Float64ArrayConstructor | Int32ArrayConstructor;

/**
 * Inputs of `world` ranks whose every order of reduction is exact: integers in -100..99, and
 * for `prod` factors drawn from `prodValues` (small, so products stay exact in float32).
 */
export function exactInputs(ctor: Ctor, world: number, n: number, op: ReduceOp, seed: number, prodValues: readonly number[] = [1, -1, 2]): NumericArray[] {
  const r = rng(seed);
  return Array.from({ length: world }, () => {
    const a = new ctor(n);
    for (let i = 0; i < n; i++) a[i] = op === 'prod' ? prodValues[Math.floor(r() * prodValues.length)]! : Math.floor(r() * 200) - 100;
    return a;
  });
}

/** The reduction computed independently of the library, element by element. */
export function exactReference(ins: NumericArray[], op: ReduceOp): NumericArray {
  const out = ins[0]!.slice();
  for (let i = 0; i < out.length; i++) {
    let acc = ins[0]![i]!;
    for (const a of ins.slice(1)) {
      const v = a[i]!;
      if (op === 'sum' || op === 'avg') acc += v;
      else if (op === 'prod') acc *= v;
      else if (op === 'min') acc = Math.min(acc, v);
      else acc = Math.max(acc, v);
    }
    if (op === 'avg') acc = out instanceof Int32Array ? Math.trunc(acc / ins.length) : acc / ins.length;
    out[i] = acc;
  }
  return out;
}
