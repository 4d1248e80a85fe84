// The clock moved to util/clock.ts (the communicator uses it too, and comm must not import from
// fms). Kept so that the FMS's imports stay as they are while fms.ts is being split; import
// from '../util/clock.js' in new code.
export * from '../util/clock.js';
