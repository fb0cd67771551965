// The webgpu backend: TF.js's WebGPU kernels on Dawn (npm `webgpu`), on any Vulkan, Metal or D3D12
// GPU. Nothing here loads Dawn until a command asks for webgpu or probes for adapters.
export { probeAdapters, adapterName, isSoftwareAdapter, noAdapterProblem, type AdapterProbe, type AdapterReport } from './adapters';
export { largestTensorBytesPerImage, planMicroBatches, type MicroBatchPlan } from './micro-batch';
export { startWebgpu, stopWebgpu, throwIfGpuFault, explainGpuError, webgpuSession, GpuFaultError, type GpuFaultKind } from './register';
