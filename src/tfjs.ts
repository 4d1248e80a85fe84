// `rollcall/tfjs`: the TensorFlow.js adapter, apart from the root entry point so that a program
// without tfjs never loads it; every type its functions take or return is exported with it.
export {
  averageGradients,
  trackModel,
  type ModelLike,
  type NamedTensorLike,
  type OptimizerLike,
  type TensorLike,
  type TfDataType,
  type TfLike,
  type TrackedModel,
  type TrackedState,
  type VariableLike,
} from './adapters/tfjs.js';
