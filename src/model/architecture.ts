// NiN's architecture as data: d2l's network and the variants its chapter's exercises ask for, one typed
// description, checked against an image size, and the plan of layers that every builder follows
// (model.ts builds it in TF.js, shapes.ts counts it; scripts/reference/torch_nin.py builds the same in PyTorch).
import { UsageError } from '../sys/errors';

export const NUM_CLASSES = 10;
export const DROPOUT_RATE = 0.5;

export type Head = 'gap' | 'dense';
export const HEADS: readonly Head[] = ['gap', 'dense'];

/**
 * A deeper NiN family built the way VGG-11/16/19 were: the same block design throughout, more blocks in the
 * later stages, the width fixed within a stage. NiN has four stages (its four blocks, each followed by a
 * max-pool but the last); a member repeats the NiN block of stages 2 and 3 (the 256- and 384-channel ones),
 * each repeat a 3x3 convolution (stride 1, 'same') at the stage's width followed by the block's 1x1
 * convolutions. Stage 1 (the 11x11/4 stem) and stage 4 (the classifier block, one channel per class) stay
 * single. A member is named by its weight layers with d2l's blocks (three convolutions each, the pooling
 * head), as VGG counts its own: nin-12 is d2l's NiN, nin-18 has two blocks in stages 2 and 3, nin-24 three.
 */
export const DEPTHS = Object.freeze({ 'nin-12': [1, 1, 1, 1], 'nin-18': [1, 2, 2, 1], 'nin-24': [1, 3, 3, 1] } as const);
export type Depth = keyof typeof DEPTHS;
export const DEPTH_NAMES = Object.keys(DEPTHS) as Depth[];

export interface Architecture {
  blockConvs: number; // the 1x1 convolutions after each NiN block's first convolution, 0-4; d2l: 2 (exercise 1)
  blockKernel: 1 | 3; // their kernel; 3 pads 'same' so sizes stay; d2l: 1 (exercise 2)
  head: Head; // 'gap': global average pooling over the last block's class channels (d2l); 'dense': flatten + one fully connected layer (exercise 3)
  width: number; // factor on the blocks' 96/256/384 channels, rounded to whole channels; d2l: 1
  bottleneck: number | null; // the last block goes 384 -> k -> 10 instead of 384 -> 10; d2l: null (exercise 5)
  depth: Depth; // a member of the VGG-style family above; d2l: 'nin-12' (exercise 6)
}

export const DEFAULT_ARCHITECTURE: Readonly<Architecture> = Object.freeze({
  blockConvs: 2,
  blockKernel: 1,
  head: 'gap',
  width: 1,
  bottleneck: null,
  depth: 'nin-12',
});

export const ARCHITECTURE_KEYS = Object.keys(DEFAULT_ARCHITECTURE) as (keyof Architecture)[];

export const MAX_BLOCK_CONVS = 4;
export const MAX_WIDTH = 4;
export const MAX_BOTTLENECK = 1024;

/** The architecture a config (config.json, meta.json's config, a flag object) describes: d2l's value for each key it lacks. */
export function architectureOf(config: object): Architecture {
  const keys = config as Partial<Record<keyof Architecture, unknown>>;
  const pick = <K extends keyof Architecture>(key: K): Architecture[K] =>
    (keys[key] === undefined ? DEFAULT_ARCHITECTURE[key] : keys[key]) as Architecture[K];
  return {
    blockConvs: pick('blockConvs'),
    blockKernel: pick('blockKernel'),
    head: pick('head'),
    width: pick('width'),
    bottleneck: pick('bottleneck'),
    depth: pick('depth'),
  };
}

/** Whether two architectures build the same network. */
export function sameArchitecture(a: Architecture, b: Architecture): boolean {
  return ARCHITECTURE_KEYS.every((k) => a[k] === b[k]);
}

/** "d2l's NiN", or its name with what differs from it: "NiN (blockConvs 3, head dense)", "nin-18 (width 0.5)". */
export function describeArchitecture(architecture: Architecture): string {
  const changed = ARCHITECTURE_KEYS.filter((k) => k !== 'depth' && architecture[k] !== DEFAULT_ARCHITECTURE[k]).map(
    (k) => `${k} ${architecture[k]}`,
  );
  const name = architecture.depth === DEFAULT_ARCHITECTURE.depth ? (changed.length ? 'NiN' : "d2l's NiN") : architecture.depth;
  return changed.length ? `${name} (${changed.join(', ')})` : name;
}

/** One NiN stage: its first convolution and its width (channels), before the width factor. */
interface Stage {
  channels: number; // NUM_CLASSES for the last stage, whose width is the classes' (or the bottleneck's)
  kernelSize: number;
  strides: number;
  padding: Padding; // 'same' at stride 1 equals d2l's padding 2 (5x5) and 1 (3x3)
}

export type Padding = 'valid' | 'same';

const STAGES: readonly Stage[] = [
  { channels: 96, kernelSize: 11, strides: 4, padding: 'valid' },
  { channels: 256, kernelSize: 5, strides: 1, padding: 'same' },
  { channels: 384, kernelSize: 3, strides: 1, padding: 'same' },
  { channels: NUM_CLASSES, kernelSize: 3, strides: 1, padding: 'same' },
];
const POOL_SIZE = 3;
const POOL_STRIDES = 2;

/** A layer of the plan. Shapes are per image: [height, width, channels] (TF.js's NHWC without the batch) or [features]. */
export type PlannedLayer = (
  | {
      kind: 'conv';
      filters: number;
      kernelSize: number;
      strides: number;
      padding: Padding;
      classes: boolean; // the convolution whose channels are the classes (the last one)
      weightIndex: number; // its place among the weight layers: the seeds of its initialisers derive from it
    }
  | { kind: 'maxPool'; poolSize: number; strides: number }
  | { kind: 'dropout'; rate: number }
  | { kind: 'globalAvgPool'; poolSize: number }
  | { kind: 'flatten' }
  | { kind: 'dense'; units: number; weightIndex: number }
) & {
  name: string; // the TF.js layer's name (checkpoints hold weights by it)
  input: number[];
  output: number[];
  params: number;
  multiplyAdds: number; // per image: one per weight per output position; biases, pooling and ReLU count none
};

/** One row of d2l's `for layer in net` printout: the layers that make up one top-level PyTorch module. */
export interface LayerGroup {
  name: 'Sequential' | 'MaxPool2d' | 'Dropout' | 'AdaptiveAvgPool2d' | 'Flatten' | 'Linear';
  layers: string[];
}

export interface Plan {
  architecture: Architecture;
  imageSize: number;
  layers: PlannedLayer[];
  groups: LayerGroup[];
}

const convSize = (size: number, kernel: number, strides: number, padding: Padding) =>
  padding === 'same' ? Math.ceil(size / strides) : Math.floor((size - kernel) / strides) + 1;

/** The feature map's side after each stage (before its max-pool), or null where a layer would leave nothing. */
function stageSizes(imageSize: number): number[] | null {
  const sizes: number[] = [];
  let size = imageSize;
  for (let s = 0; s < STAGES.length; s++) {
    size = convSize(size, STAGES[s].kernelSize, STAGES[s].strides, STAGES[s].padding);
    if (size < 1) return null;
    sizes.push(size);
    if (s < STAGES.length - 1) {
      size = Math.floor((size - POOL_SIZE) / POOL_STRIDES) + 1;
      if (size < 1) return null;
    }
  }
  return sizes;
}

/**
 * The smallest image an architecture accepts. Every member of this family keeps d2l's spatial path (what it
 * adds are stride-1 'same' convolutions, a dense head fits any final size), so it is 67 for each: the 11x11/4
 * stem and three 3x3/2 max-pools must leave one pixel.
 */
export function minImageSize(_architecture: Architecture = DEFAULT_ARCHITECTURE): number {
  let size = 1;
  while (stageSizes(size) === null) size++;
  return size;
}

/** The smallest input d2l's NiN accepts. */
export const MIN_IMAGE_SIZE = minImageSize();

/** Channels of a stage at a width factor: the classifier stage keeps one per class. */
function stageWidth(stage: number, width: number): number {
  return stage === STAGES.length - 1 ? NUM_CLASSES : Math.round(STAGES[stage].channels * width);
}

/** What is wrong with an architecture at an image size, as one line naming the fix; null when it builds. */
export function architectureProblem(architecture: Architecture, imageSize: number): string | null {
  const { blockConvs, blockKernel, head, width, bottleneck, depth } = architecture;
  if (!Number.isInteger(blockConvs) || blockConvs < 0 || blockConvs > MAX_BLOCK_CONVS)
    return `--block-convs ${blockConvs} is not a whole number from 0 to ${MAX_BLOCK_CONVS} (d2l's NiN has 2)`;
  if (blockKernel !== 1 && blockKernel !== 3) return `--block-kernel ${blockKernel} is neither 1 (d2l's) nor 3`;
  if (!HEADS.includes(head)) return `--head ${head} is neither "gap" (d2l's global average pooling) nor "dense"`;
  if (typeof width !== 'number' || !Number.isFinite(width) || width <= 0 || width > MAX_WIDTH)
    return `--width ${width} is not a number above 0 and at most ${MAX_WIDTH} (d2l's NiN has 1)`;
  if (stageWidth(0, width) < 1) {
    const least = Math.ceil((0.5 / STAGES[0].channels) * 1000) / 1000;
    return `--width ${width} leaves the first block no channels (${STAGES[0].channels} x ${width} rounds to 0); pass --width ${least} or more`;
  }
  if (bottleneck !== null) {
    if (!Number.isInteger(bottleneck) || bottleneck < 1 || bottleneck > MAX_BOTTLENECK)
      return `--bottleneck ${bottleneck} is not a whole number from 1 to ${MAX_BOTTLENECK}`;
    if (blockConvs === 0)
      return "--bottleneck needs a convolution after the last block's first to go down to the classes; pass --block-convs 1 or more, or leave --bottleneck out";
  }
  if (!Object.hasOwn(DEPTHS, depth)) return `--depth ${depth} is not one of ${DEPTH_NAMES.join(', ')} (d2l's NiN is nin-12)`;
  if (!Number.isInteger(imageSize) || stageSizes(imageSize) === null) {
    const least = minImageSize(architecture);
    return `an image size of ${imageSize} does not fit ${describeArchitecture(architecture)}: its 11x11/4 convolution and three 3x3/2 max-pools need whole sizes of at least ${least}; pass --image-size ${least} or more`;
  }
  return null;
}

/** Throws the one-line problem of an architecture at an image size (exit 2), before anything is built. */
export function checkArchitecture(architecture: Architecture, imageSize: number): void {
  const problem = architectureProblem(architecture, imageSize);
  if (problem) throw new UsageError(problem);
}

/**
 * The layers of `architecture` at `imageSize`, in order, with their shapes and counts; throws (one line)
 * when it does not build. d2l's NiN gives the layers, names and order nin has always built:
 * block1_conv1..3, pool1, ..., pool3, dropout, block4_conv1..3, global_avg_pool, flatten.
 *
 * - blockConvs / blockKernel: the convolutions after each block's first, named blockS_conv2, conv3, ...
 * - bottleneck k: in the last block every convolution but the last outputs k channels, the last the classes
 *   (with 2 convolutions after the first: 384 -> k, k -> k, k -> 10).
 * - head 'dense': the last block is unchanged (its last convolution still outputs one channel per class,
 *   after its ReLU), and instead of global average pooling its whole output is flattened into one dense
 *   layer to the classes (logits, no ReLU). Only the pooling changes, so the comparison with d2l's head
 *   isolates it: the dense layer can weigh each position of each class map where the pooling averages them.
 * - depth: the repeated blocks of stages 2 and 3 are named block2b, block2c, ... (d2l's names stay).
 */
export function planNin(architecture: Architecture, imageSize: number): Plan {
  checkArchitecture(architecture, imageSize);
  const plan = new PlanBuilder(imageSize);
  STAGES.forEach((_, s) => planStage(plan, architecture, s));
  plan.head(architecture.head);
  return { architecture: { ...architecture }, imageSize, layers: plan.layers, groups: plan.groups };
}

/** Stage `s` of the plan: the dropout before the classifier stage, its blocks (repeated by depth), its max-pool. */
function planStage(plan: PlanBuilder, architecture: Architecture, s: number): void {
  const { blockConvs, blockKernel, width, bottleneck, depth } = architecture;
  const stage = STAGES[s];
  const last = s === STAGES.length - 1;
  if (last)
    plan.add(
      { kind: 'dropout', name: 'dropout', rate: DROPOUT_RATE, input: plan.shape, output: plan.shape, params: 0, multiplyAdds: 0 },
      'Dropout',
    );
  for (let r = 0; r < DEPTHS[depth][s]; r++) {
    const block = `block${s + 1}${r === 0 ? '' : String.fromCharCode(97 + r)}`;
    const convs = 1 + blockConvs;
    for (let c = 1; c <= convs; c++) {
      // The last block narrows to the bottleneck until its last convolution, which outputs the classes.
      const filters = last && bottleneck !== null && c < convs ? bottleneck : stageWidth(s, width);
      const classes = last && c === convs;
      // A 1x1 convolution pads nothing ('valid', as d2l's NiN has always been saved); a 3x3 one pads 'same'.
      if (c > 1) plan.conv(`${block}_conv${c}`, filters, blockKernel, 1, blockKernel === 1 ? 'valid' : 'same', classes, false);
      else if (r === 0) plan.conv(`${block}_conv1`, filters, stage.kernelSize, stage.strides, stage.padding, classes, true);
      else plan.conv(`${block}_conv1`, filters, 3, 1, 'same', classes, true);
    }
  }
  if (!last) plan.maxPool(`pool${s + 1}`);
}

/** The plan's layers as they are added, each from the shape the one before it left, grouped as PyTorch prints them. */
class PlanBuilder {
  readonly layers: PlannedLayer[] = [];
  readonly groups: LayerGroup[] = [];
  shape: number[];
  private weightIndex = 0;

  constructor(imageSize: number) {
    this.shape = [imageSize, imageSize, 1];
  }

  add(layer: PlannedLayer, group: LayerGroup['name'] | null): void {
    this.layers.push(layer);
    this.shape = layer.output;
    if (group) this.groups.push({ name: group, layers: [layer.name] });
    else this.groups[this.groups.length - 1].layers.push(layer.name);
  }

  conv(name: string, filters: number, kernelSize: number, strides: number, padding: Padding, classes: boolean, first: boolean): void {
    const [h, w, c] = this.shape;
    const size = [convSize(h, kernelSize, strides, padding), convSize(w, kernelSize, strides, padding)];
    const output = [...size, filters];
    const macs = size[0] * size[1] * filters * kernelSize * kernelSize * c;
    this.add(
      {
        kind: 'conv',
        name,
        filters,
        kernelSize,
        strides,
        padding,
        classes,
        weightIndex: this.weightIndex++,
        input: this.shape,
        output,
        params: kernelSize * kernelSize * c * filters + filters,
        multiplyAdds: macs,
      },
      first ? 'Sequential' : null,
    );
  }

  maxPool(name: string): void {
    const [h, w, c] = this.shape;
    const pooled = (n: number) => Math.floor((n - POOL_SIZE) / POOL_STRIDES) + 1;
    this.add(
      {
        kind: 'maxPool',
        name,
        poolSize: POOL_SIZE,
        strides: POOL_STRIDES,
        input: this.shape,
        output: [pooled(h), pooled(w), c],
        params: 0,
        multiplyAdds: 0,
      },
      'MaxPool2d',
    );
  }

  /** d2l's global average pooling, or a flatten into one dense layer to the classes. */
  head(head: Head): void {
    const shape = this.shape;
    const features = shape.reduce((a, b) => a * b, 1);
    if (head === 'gap') {
      // AdaptiveAvgPool2d((1, 1)) is an average over the whole remaining feature map.
      this.add(
        {
          kind: 'globalAvgPool',
          name: 'global_avg_pool',
          poolSize: shape[0],
          input: shape,
          output: [1, 1, shape[2]],
          params: 0,
          multiplyAdds: 0,
        },
        'AdaptiveAvgPool2d',
      );
      this.add({ kind: 'flatten', name: 'flatten', input: this.shape, output: [this.shape[2]], params: 0, multiplyAdds: 0 }, 'Flatten');
      return;
    }
    this.add({ kind: 'flatten', name: 'flatten', input: shape, output: [features], params: 0, multiplyAdds: 0 }, 'Flatten');
    this.add(
      {
        kind: 'dense',
        name: 'dense',
        units: NUM_CLASSES,
        weightIndex: this.weightIndex++,
        input: this.shape,
        output: [NUM_CLASSES],
        params: features * NUM_CLASSES + NUM_CLASSES,
        multiplyAdds: features * NUM_CLASSES,
      },
      'Linear',
    );
  }
}
