import '@tensorflow/tfjs-backend-wasm';
