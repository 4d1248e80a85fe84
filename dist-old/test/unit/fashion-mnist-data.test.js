import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { DataError, PIXELS, loadFashionMnist, parseImages, parseLabels, parseSplit, permutation, syntheticFashionMnist } from '../../examples/fashion-mnist/data.js';
import { Workspace, initParams, lossAndGrad, paramCount, views } from '../../examples/fashion-mnist/mlp.js';
/** An IDX header (big-endian u32s) followed by `body`. */
function idx(header, body) {
    const out = new Uint8Array(header.length * 4 + body.length);
    const dv = new DataView(out.buffer);
    header.forEach((v, i) => dv.setUint32(i * 4, v));
    out.set(body, header.length * 4);
    return out;
}
const images = (n, extra = []) => idx([0x803, n, 28, 28, ...extra], new Uint8Array(n * PIXELS).map((_, i) => i % 256));
const labels = (values) => idx([0x801, values.length], Uint8Array.from(values));
describe('fashion-mnist: IDX parser', () => {
    it('reads images and labels', () => {
        const s = parseSplit(images(3), labels([0, 9, 4]));
        assert.equal(s.count, 3);
        assert.equal(s.images.length, 3 * PIXELS);
        assert.equal(s.images[PIXELS + 1], (PIXELS + 1) % 256);
        assert.deepEqual([...s.labels], [0, 9, 4]);
    });
    it('rejects a bad magic number', () => {
        const swapped = images(1);
        swapped[3] = 0x01;
        assert.throws(() => parseImages(swapped), (e) => e instanceof DataError && /magic 0x00000801, expected 0x00000803/.test(e.message));
        assert.throws(() => parseLabels(images(1)), /magic 0x00000803, expected 0x00000801/);
    });
    it('rejects truncated files and headers', () => {
        assert.throws(() => parseImages(images(2).subarray(0, 16 + PIXELS + 10)), /the header \(2 images\) says 1584: truncated/);
        assert.throws(() => parseLabels(labels([1, 2, 3]).subarray(0, 10)), /the header \(3 labels\) says 11/);
        assert.throws(() => parseImages(new Uint8Array(7)), /shorter than the 16-byte IDX3 header/);
        assert.throws(() => parseLabels(new Uint8Array(0)), /shorter than the 8-byte IDX1 header/);
    });
    it('rejects other image sizes, labels out of range and counts that disagree', () => {
        assert.throws(() => parseImages(idx([0x803, 1, 32, 32], new Uint8Array(1024))), /images are 32x32, expected 28x28/);
        assert.throws(() => parseLabels(labels([3, 10])), /label 10 at index 1/);
        assert.throws(() => parseSplit(images(2), labels([1])), /has 2 images but .* has 1 labels/);
    });
});
describe('fashion-mnist: loading', () => {
    it('names the Debian package when the files are missing', () => {
        assert.throws(() => loadFashionMnist('/nonexistent'), (e) => e instanceof DataError && e.message === "Fashion-MNIST not found in /nonexistent: install Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist) or pass --synthetic");
    });
    it('reads gzip files from a directory and keeps the first --train-size samples', () => {
        const dir = mkdtempSync(join(tmpdir(), 'fmnist-'));
        writeFileSync(join(dir, 'train-images-idx3-ubyte.gz'), gzipSync(images(4)));
        writeFileSync(join(dir, 'train-labels-idx1-ubyte.gz'), gzipSync(labels([1, 2, 3, 4])));
        writeFileSync(join(dir, 't10k-images-idx3-ubyte.gz'), gzipSync(images(2)));
        writeFileSync(join(dir, 't10k-labels-idx1-ubyte.gz'), gzipSync(labels([5, 6])));
        const d = loadFashionMnist(dir, 3);
        assert.equal(d.train.count, 3);
        assert.deepEqual([...d.train.labels], [1, 2, 3]);
        assert.equal(d.test.count, 2);
        writeFileSync(join(dir, 't10k-labels-idx1-ubyte.gz'), gzipSync(labels([5, 6])).subarray(0, 20));
        assert.throws(() => loadFashionMnist(dir), /t10k-labels-idx1-ubyte.gz: cannot read it as gzip/);
    });
});
describe('fashion-mnist: synthetic data and order', () => {
    it('is deterministic and shaped like the real set', () => {
        const a = syntheticFashionMnist(600);
        const b = syntheticFashionMnist(600);
        assert.equal(a.train.count, 600);
        assert.equal(a.test.count, 1000);
        assert.deepEqual(a.train.images, b.train.images);
        assert.deepEqual(a.test.labels, b.test.labels);
        assert.ok(new Set(a.train.labels).size === 10, 'every class occurs');
    });
    it('permutes every index once, the same way for the same seed', () => {
        const p = permutation(1000, 3);
        assert.deepEqual([...p].sort((x, y) => x - y), Array.from({ length: 1000 }, (_, i) => i));
        assert.deepEqual(p, permutation(1000, 3));
        assert.notDeepEqual(p, permutation(1000, 4));
    });
});
describe('fashion-mnist: MLP gradient', () => {
    // A wrong index in the hand-written backward pass still trains, only worse: check it directly.
    it('matches finite differences of the loss', () => {
        const shape = { inputs: PIXELS, hidden: 16, classes: 10 };
        const params = new Float32Array(paramCount(shape));
        const grad = new Float32Array(params.length);
        initParams(params, shape, 7);
        const p = views(params, shape);
        const data = syntheticFashionMnist(1000).train;
        const ws = new Workspace(shape, 4);
        for (let i = 0; i < 4 * PIXELS; i++)
            ws.x[i] = data.images[i] / 255;
        const y = data.labels.subarray(0, 4);
        lossAndGrad(p, views(grad, shape), ws, y, 4);
        const [I, H] = [PIXELS, 16];
        const lit = ws.x.findIndex((v) => v > 0.2);
        // W1 (from a lit pixel of the first sample), b1, W2, b2.
        const probes = [lit * H + 5, lit * H + 11, I * H + 3, I * H + H + 37, I * H + H + H * 10 + 4];
        for (const i of probes) {
            const h = 1e-3;
            const old = params[i];
            params[i] = old + h;
            const up = lossAndGrad(p, views(new Float32Array(params.length), shape), ws, y, 4);
            params[i] = old - h;
            const down = lossAndGrad(p, views(new Float32Array(params.length), shape), ws, y, 4);
            params[i] = old;
            const numeric = (up - down) / (2 * h);
            assert.ok(Math.abs(numeric - grad[i]) < 2e-3 + 0.05 * Math.abs(numeric), `param ${i}: analytic ${grad[i]}, numeric ${numeric}`);
        }
    });
});
//# sourceMappingURL=fashion-mnist-data.test.js.map