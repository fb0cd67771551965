// `nin shapes`: each top-level layer's output shape and parameter count, as d2l's notebook prints them (NCHW).
import { buildNin, LAYER_GROUPS } from './model';

export interface ShapeRow {
  name: string;
  outputShape: number[]; // NCHW with batch 1, like the notebook's torch.Size
  params: number;
}

export interface ShapesResult {
  imageSize: number;
  layers: ShapeRow[];
  totalParams: number;
}

export function shapes(options: { imageSize: number }): ShapesResult {
  // The layers know their shapes once built; nothing needs to run through them.
  const model = buildNin({ imageSize: options.imageSize, seed: 0 });
  try {
    const layers = LAYER_GROUPS.map((group) => {
      const members = group.layers.map((name) => model.getLayer(name));
      const nhwc = members[members.length - 1].outputShape as (number | null)[];
      const outputShape = nhwc.length === 4 ? [1, nhwc[3]!, nhwc[1]!, nhwc[2]!] : [1, ...(nhwc.slice(1) as number[])];
      return { name: group.name, outputShape, params: members.reduce((sum, l) => sum + l.countParams(), 0) };
    });
    return { imageSize: options.imageSize, layers, totalParams: layers.reduce((sum, l) => sum + l.params, 0) };
  } finally {
    model.dispose();
  }
}
