// Each convolution pass's layouts (the addon's convPorts), asked of the addon once per shape: a call reads 17 named
// fields across the native boundary and checks each (about 27 us in a step, 35 calls a training step of NiN: 0.9 ms
// of the step's serial part). The answer depends on the addon's conv layouts, precision and cache: their setters and
// clearOnednnCache (addon.ts) empty this map.
import type { Addon, ConvPass, ConvPorts, ConvShape } from './addon';

const portsCache = new Map<string, ConvPorts | null>();

/** The layouts of a convolution pass for this shape (native.convPorts, remembered), or null when oneDNN has none. */
export function convPortsOf(native: Addon, pass: ConvPass, shape: ConvShape, bias: boolean): ConvPorts | null {
  const s = shape;
  const key =
    `${pass} ${s.batch} ${s.inHeight} ${s.inWidth} ${s.inChannels} ${s.filterHeight} ${s.filterWidth} ${s.outChannels} ` +
    `${s.outHeight} ${s.outWidth} ${s.strideHeight} ${s.strideWidth} ${s.dilationHeight} ${s.dilationWidth} ` +
    `${s.padTop} ${s.padBottom} ${s.padLeft} ${s.padRight} ${bias}`;
  let ports = portsCache.get(key);
  if (ports === undefined) {
    ports = native.convPorts(native.ConvPass[pass], shape, bias);
    portsCache.set(key, ports);
  }
  return ports;
}

/** Forgets every remembered answer (the addon's layouts, precision or cache changed). */
export function clearConvPorts(): void {
  portsCache.clear();
}
