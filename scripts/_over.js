const tf = require('@tensorflow/tfjs');
const onednn = require('../dist/src/backend/onednn');
const { buildNin } = require('../dist/src/model');
const { makeTrainer, deferredStep } = require('../dist/src/step');
(async () => {
  onednn.registerOnednnBackend(); await tf.setBackend('onednn'); onednn.setOnednnConvPrecision(process.argv[2] || 'fp32');
  onednn.setOnednnThreads(2);
  const imageSize = 96, batch = 64;
  const x = new Float32Array(batch * imageSize * imageSize).map(() => Math.random());
  const labels = Int32Array.from({ length: batch }, (_, i) => i % 10);
  const t = makeTrainer(buildNin({ imageSize, seed: 1 }), tf.train.sgd(0.05));
  const opts = { imageSize, labelSmoothing: 0, weightDecay: 0, dropoutSeed: 1 };
  const step = () => { const m = deferredStep(t, x, labels, batch, opts); m.dataSync(); m.dispose(); };
  step(); step();
  // Time inside every kernel the engine runs (the backend's registered kernelFunc), by name.
  const inKernels = new Map(); const over = new Map(); let depth = 0;
  const nativeNow = () => Object.values(onednn.onednnTimers()).reduce((a, v) => a + v.seconds, 0);
  for (const k of tf.getKernelsForBackend('onednn')) {
    const f = k.kernelFunc;
    tf.unregisterKernel(k.kernelName, 'onednn');
    tf.registerKernel({ ...k, kernelFunc: (args) => { const n0 = nativeNow(); const s = process.hrtime.bigint(); depth++; try { return f(args); } finally { depth--; if (depth === 0) { const dt = process.hrtime.bigint() - s; inKernels.set(k.kernelName, (inKernels.get(k.kernelName) ?? 0n) + dt); over.set(k.kernelName, (over.get(k.kernelName) ?? 0) + Number(dt) / 1e9 - (nativeNow() - n0)); } } } });
  }
  const N = 10;
  onednn.resetOnednnTimers();
  const s0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) step();
  const total = Number(process.hrtime.bigint() - s0) / 1e6 / N;
  const timers = onednn.onednnTimers();
  const native = Object.values(timers).reduce((a, v) => a + v.seconds, 0) * 1000 / N;
  const kernels = Number([...inKernels.values()].reduce((a, b) => a + b, 0n)) / 1e6 / N;
  console.log(`step ${total.toFixed(1)} ms; inside kernels ${kernels.toFixed(1)} ms; native timers ${native.toFixed(1)} ms; kernels minus native ${(kernels - native).toFixed(1)}; outside kernels ${(total - kernels).toFixed(1)}`);
  const rows = [...inKernels].map(([k, v]) => [k, Number(v) / 1e6 / N]).sort((a, b) => b[1] - a[1]).slice(0, 14);
  console.log(rows.map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', '));
  const calls = new Map(); 
  console.log('overhead (wrapper minus native), ms/step:', [...over].map(([k, v]) => [k, v * 1000 / N]).sort((a, b) => b[1] - a[1]).slice(0, 14).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', '));
})();
