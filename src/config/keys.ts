// The one table of config keys (nanoGPT's block of hyperparameters, one row each): for every key its type and
// range or choices, d2l's default, its flag and help, whether it belongs to the recipe (frozen on --resume) or
// the runtime, the value an older config.json without it stands for, and what the banner prints for null.
// TrainConfig, DEFAULT_CONFIG, the CLI's options, the file checks, --print-config, --resume's refusals, the
// banner and README's flag table all come from here: adding a key is one row (plus its use).
import { BACKEND_CHOICES, PRECISION_CHOICES } from '../backend';
import { DEPTH_NAMES, HEADS, MAX_BLOCK_CONVS, MAX_BOTTLENECK, MAX_WIDTH } from '../model/architecture';
import { BIAS_INITS, KERNEL_INITS, MIN_IMAGE_SIZE } from '../model/nin';
import { SCHEDULES } from '../train/schedule';

/** What one config key may hold, and the flag that sets it (the by-key lookup CONFIG_RULES[key] gives this). */
export type Rule = { flag: string; nullable?: boolean; absent?: { value: unknown } } & (
  | { kind: 'integer'; min: number; max: number }
  | { kind: 'real'; min: number; max: number; minExclusive?: boolean }
  | { kind: 'choice'; choices: readonly string[] }
  | { kind: 'boolean' }
  | { kind: 'path' }
);

/**
 * One row of the table. `nullable`: null means "not given" (all examples, the default threads, ...).
 * `absent`: keys added after the first config format; a config.json without one was written before the key
 * existed, and gets the value that reproduces what that run did (not today's default, which may have changed
 * since: biasInit's has). `unset`: the banner's word for null (default: "default").
 */
export type KeyRow = Rule & {
  part: 'recipe' | 'runtime';
  default: unknown;
  arg?: string; // the flag's argument as --help shows it; none for a boolean
  help: string;
  negate?: string; // a boolean's --no-<flag> help (to override a recipe)
  unset?: string;
  resume?: 'may-change'; // a recipe key --resume accepts (only epochs)
};

// One line per key, as nanoGPT keeps its hyperparameters: a row is read across, so prettier leaves it whole.
// prettier-ignore
export const CONFIG_KEYS = Object.freeze({
  // --- the recipe: what is trained (d2l's train_ch6 defaults), frozen in the run's config.json ---
  learningRate: { part: 'recipe', kind: 'real', flag: '--lr', arg: '<number>', min: 0, max: 1e4, minExclusive: true, default: 0.1, help: 'learning rate' }, // d2l: lr = 0.1
  epochs: { part: 'recipe', kind: 'integer', flag: '--epochs', arg: '<n>', min: 1, max: 10000, default: 10, help: 'epochs to train', resume: 'may-change' }, // d2l: num_epochs = 10
  batchSize: { part: 'recipe', kind: 'integer', flag: '--batch-size', arg: '<n>', min: 1, max: 4096, default: 128, help: 'minibatch size' }, // d2l: batch_size = 128
  imageSize: { part: 'recipe', kind: 'integer', flag: '--image-size', arg: '<n>', min: MIN_IMAGE_SIZE, max: 1024, default: 224, help: `images are resized to n x n (at least ${MIN_IMAGE_SIZE})` }, // d2l resizes Fashion-MNIST to 224x224
  optimizer: { part: 'recipe', kind: 'choice', flag: '--optimizer', arg: '<name>', choices: ['sgd', 'momentum', 'adam'], default: 'sgd', help: 'optimizer' }, // d2l: plain SGD
  momentum: { part: 'recipe', kind: 'real', flag: '--momentum', arg: '<number>', min: 0, max: 0.999999, default: 0.9, help: 'momentum (with --optimizer momentum)' }, // used by 'momentum' only
  nesterov: { part: 'recipe', kind: 'boolean', flag: '--nesterov', default: false, absent: { value: false }, help: 'Nesterov momentum (with --optimizer momentum)', negate: 'plain momentum (to override a recipe)' },
  schedule: { part: 'recipe', kind: 'choice', flag: '--schedule', arg: '<name>', choices: SCHEDULES, default: 'constant', absent: { value: 'constant' }, help: 'learning-rate schedule' }, // d2l keeps the rate constant
  warmupEpochs: { part: 'recipe', kind: 'real', flag: '--warmup-epochs', arg: '<number>', min: 0, max: 1000, default: 0, absent: { value: 0 }, help: 'linear learning-rate warm-up, in epochs' }, // from ~0 to learningRate; d2l has none
  augment: { part: 'recipe', kind: 'boolean', flag: '--augment', default: false, absent: { value: false }, help: 'random horizontal flip and padded random crop, per batch', negate: 'no augmentation (to override a recipe)' }, // d2l has none
  labelSmoothing: { part: 'recipe', kind: 'real', flag: '--label-smoothing', arg: '<number>', min: 0, max: 0.99, default: 0, absent: { value: 0 }, help: 'label smoothing of the cross-entropy target' }, // d2l uses 0
  weightDecay: { part: 'recipe', kind: 'real', flag: '--weight-decay', arg: '<number>', min: 0, max: 1, default: 0, help: 'L2 weight decay, as PyTorch SGD weight_decay' }, // added to the loss; d2l uses none
  seed: { part: 'recipe', kind: 'integer', flag: '--seed', arg: '<n>', min: 0, max: 2 ** 32 - 1, default: 0, help: 'seed for initialisation, shuffling and dropout' },
  // d2l's biases are PyTorch's Conv2d default (uniform in +-1/sqrt(fan_in)), which train_ch6 keeps; runs before the key had zeros.
  biasInit: { part: 'recipe', kind: 'choice', flag: '--bias-init', arg: '<kind>', choices: BIAS_INITS, default: 'pytorch', absent: { value: 'zeros' }, help: "conv biases: pytorch (PyTorch's default, uniform in +-1/sqrt(fan_in), which d2l's code keeps), or zeros" },
  kernelInit: { part: 'recipe', kind: 'choice', flag: '--kernel-init', arg: '<kind>', choices: KERNEL_INITS, default: 'xavier', absent: { value: 'xavier' }, help: "conv kernels: xavier (Xavier-uniform, d2l's), or he (Kaiming-uniform for ReLU)" },
  classBias: { part: 'recipe', kind: 'real', flag: '--class-bias', arg: '<number>', min: -10, max: 10, nullable: true, default: null, absent: { value: null }, help: "start the last convolution's biases (one per class) at this value, e.g. 1 so every class's channel starts active (default: as --bias-init)" }, // d2l: null (as biasInit)
  // No --init-weights means the seeded initialisation, not a default file.
  initWeights: { part: 'recipe', kind: 'path', flag: '--init-weights', arg: '<path>', nullable: true, default: null, absent: { value: null }, unset: 'seeded', help: 'start from these weights instead of the seeded initialisation: a checkpoint or run directory, or a TF.js weights manifest (.json), e.g. from scripts/torch-init-weights.py' },
  trainLimit: { part: 'recipe', kind: 'integer', flag: '--train-limit', arg: '<n>', min: 1, max: 60000, nullable: true, default: null, help: 'use the first n training examples' }, // null = all 60,000
  testLimit: { part: 'recipe', kind: 'integer', flag: '--test-limit', arg: '<n>', min: 1, max: 10000, nullable: true, default: null, help: 'use the first n test examples' }, // null = all 10,000
  valSplit: { part: 'recipe', kind: 'integer', flag: '--val-split', arg: '<n>', min: 0, max: 59999, default: 0, absent: { value: 0 }, help: "hold out n training examples (seeded, same class proportions); best/ is then chosen on their accuracy, not the test set's" }, // d2l: 0, all train
  // No --early-stop means never stopping early.
  earlyStop: { part: 'recipe', kind: 'integer', flag: '--early-stop', arg: '<patience>', min: 1, max: 10000, nullable: true, default: null, absent: { value: null }, unset: 'off', help: 'stop after this many epochs without a better val acc (test acc without --val-split)' },
  // Which NiN (model/architecture.ts): d2l's network, or a variant the chapter's exercises ask for. A config.json
  // written before these keys existed trained d2l's NiN, so an absent key means its d2l value.
  blockConvs: { part: 'recipe', kind: 'integer', flag: '--block-convs', arg: '<n>', min: 0, max: MAX_BLOCK_CONVS, default: 2, absent: { value: 2 }, help: `1x1 convolutions after each block's first (0-${MAX_BLOCK_CONVS})` }, // d2l: 2 (exercise 1)
  blockKernel: { part: 'recipe', kind: 'integer', flag: '--block-kernel', arg: '<n>', min: 1, max: 3, default: 1, absent: { value: 1 }, help: "those convolutions' kernel: 1 or 3 (3x3, 'same' padding)" }, // d2l: 1 (exercise 2); 2 passes the range, checkArchitecture refuses it
  head: { part: 'recipe', kind: 'choice', flag: '--head', arg: '<name>', choices: HEADS, default: 'gap', absent: { value: 'gap' }, help: 'gap: global average pooling over the class channels (d2l), or dense: flatten + one dense layer' }, // exercise 3
  width: { part: 'recipe', kind: 'real', flag: '--width', arg: '<x>', min: 0, max: MAX_WIDTH, minExclusive: true, default: 1, absent: { value: 1 }, help: "factor on the blocks' 96/256/384 channels, rounded" }, // d2l: 1
  bottleneck: { part: 'recipe', kind: 'integer', flag: '--bottleneck', arg: '<k>', min: 1, max: MAX_BOTTLENECK, nullable: true, default: null, absent: { value: null }, unset: 'none', help: 'the last block goes 384 -> k -> 10 instead of 384 -> 10' }, // d2l: none (exercise 5)
  depth: { part: 'recipe', kind: 'choice', flag: '--depth', arg: '<name>', choices: DEPTH_NAMES, default: 'nin-12', absent: { value: 'nin-12' }, help: "nin-12 is d2l's NiN; nin-18 and nin-24 repeat the NiN blocks of stages 2 and 3 (VGG's way)" }, // exercise 6
  // --- the runtime: where and how fast, chosen anew at each start and --resume ---
  dataDir: { part: 'runtime', kind: 'path', flag: '--data-dir', arg: '<dir>', nullable: true, default: null, help: 'Fashion-MNIST directory (IDX files, .gz or raw)' }, // null = the lookup order in data/locate
  backend: { part: 'runtime', kind: 'choice', flag: '--backend', arg: '<name>', choices: BACKEND_CHOICES, default: 'auto', help: 'engine: auto picks a GPU (webgpu on a hardware adapter, then tfjs-node-gpu on CUDA), then onednn, then cpu; webgpu also runs on a software adapter such as lavapipe' },
  threads: { part: 'runtime', kind: 'integer', flag: '--threads', arg: '<n>', min: 1, max: 1024, nullable: true, default: null, help: 'CPU threads for onednn (default: all cores)' }, // null = all cores
  // A runtime choice, not a recipe one: weights, optimizer state and checkpoints are float32 either way and bf16
  // only rounds the convolutions' inputs (as threads reorder sums), so a bf16 run may resume in fp32, on any backend.
  precision: { part: 'runtime', kind: 'choice', flag: '--precision', arg: '<p>', choices: PRECISION_CHOICES, default: 'fp32', absent: { value: 'fp32' }, help: 'convolutions in fp32, or bf16 mixed precision as PyTorch autocast (onednn on a CPU with AVX512-BF16 or AMX); auto: bf16 where native' },
} as const satisfies Record<string, KeyRow>);

type Table = typeof CONFIG_KEYS;
export type ConfigKey = keyof Table;

/** The value a row holds: its kind's type (a choice's own union), or null where it is nullable. */
type ValueOf<R> =
  | (R extends { kind: 'integer' | 'real' }
      ? number
      : R extends { kind: 'choice'; choices: readonly (infer C)[] }
        ? C
        : R extends { kind: 'boolean' }
          ? boolean
          : string)
  | (R extends { nullable: true } ? null : never);

/** The flat object config.json and meta.json hold, one field per row. */
export type TrainConfig = { -readonly [K in ConfigKey]: ValueOf<Table[K]> };
export type RecipeKey = { [K in ConfigKey]: Table[K]['part'] extends 'recipe' ? K : never }[ConfigKey];
export type RuntimeKey = Exclude<ConfigKey, RecipeKey>;

// Checked at compile time: every row's default is a value of its own type.
type DefaultMisfits = { [K in ConfigKey]: Table[K]['default'] extends ValueOf<Table[K]> ? never : K }[ConfigKey];
const defaultsFit: [DefaultMisfits] extends [never] ? true : DefaultMisfits = true;
void defaultsFit;

export const CONFIG_KEY_NAMES = Object.keys(CONFIG_KEYS) as ConfigKey[];

/** A row of the table by key, typed loosely (for code that walks every key). */
export function keyRow(key: ConfigKey): KeyRow {
  return CONFIG_KEYS[key] as KeyRow;
}
