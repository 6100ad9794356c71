/**
 * Export of trained models to one self-contained ONNX file: raw features in, predictions out.
 *
 * Inputs: one tensor per feature, named as the feature: float32 [N, 1] for numeric features
 * (NaN = missing), string [N, 1] for categorical ones ("" = missing; unseen categories are
 * treated as missing). Outputs, the same for every model family:
 *   classifiers: `label` int64 [N] (class index, names in metadata `mlpipe.classes`) and
 *                `probabilities` float32 [N, classes]
 *   regressors:  `variable` float32 [N, 1]
 *
 * GBDT graph: LabelEncoder (string → model code, default -1) per categorical feature, Concat,
 * ai.onnx.ml TreeEnsemble (opset 5) summing raw scores, Add of the base score, then Sigmoid /
 * Softmax and ArgMax. TreeEnsemble rather than TreeEnsembleClassifier/Regressor because it has
 * BRANCH_MEMBER: a categorical split is one node with its category set, where the older ops
 * need a chain of BRANCH_EQ nodes each leading to its own copy of the left subtree.
 */
import { DataType } from './onnx-builder';
import {
  attribute,
  CLASSES_METADATA_KEY,
  encodeModel,
  floatTensor,
  ML_DOMAIN,
  MODEL_CARD_METADATA_KEY,
  node,
  uint8Tensor,
  valueInfo,
} from './onnx-builder';
import type { GbdtModel } from './gbdt';
import type { LinearModel } from './linear';
import { nodeCount } from './tree';
import type { onnx } from 'onnx-proto';

/** Names of graph outputs. */
export const OUTPUT_LABEL = 'label';
export const OUTPUT_PROBABILITIES = 'probabilities';
export const OUTPUT_VARIABLE = 'variable';

/** Prefix of every internal tensor name; feature names may not start with it. */
const INTERNAL = 'mlpipe.';
const RESERVED = new Set([OUTPUT_LABEL, OUTPUT_PROBABILITIES, OUTPUT_VARIABLE]);

/** Thrown when a model cannot be expressed as the ONNX graph (e.g. a feature named `label`). */
export class OnnxExportError extends Error {
  override readonly name = 'OnnxExportError';
}

export interface OnnxExportOptions {
  /** Stored as JSON under metadata key `mlpipe.model_card`. */
  modelCard?: unknown;
  /** Written to the model's producer_version. @default '' */
  producerVersion?: string;
  /** Written to the model's doc_string. @default '' */
  docString?: string;
}

/** A feature as the exporters see it. */
export interface ExportFeature {
  readonly name: string;
  readonly kind: 'numeric' | 'categorical';
  readonly categories?: readonly string[];
}

/** Graph inputs for the features, after checking their names. */
export function featureInputs(features: readonly ExportFeature[]): onnx.IValueInfoProto[] {
  const seen = new Set<string>();
  return features.map((f) => {
    if (RESERVED.has(f.name) || f.name.startsWith(INTERNAL) || seen.has(f.name) || f.name === '') {
      throw new OnnxExportError(`feature name "${f.name}" is empty, duplicated or reserved for the graph`);
    }
    seen.add(f.name);
    return valueInfo(f.name, f.kind === 'numeric' ? DataType.FLOAT : DataType.STRING, ['N', 1]);
  });
}

/**
 * Nodes turning the feature inputs into one float [N, F] tensor: numeric inputs as they are,
 * categorical inputs through a LabelEncoder to their dictionary index (-1 when unseen / "").
 */
export function featureCodesNodes(features: readonly ExportFeature[], output: string): onnx.INodeProto[] {
  const nodes: onnx.INodeProto[] = [];
  const columns = features.map((f) => {
    if (f.kind === 'numeric') return f.name;
    const codes = `${INTERNAL}code.${f.name}`;
    const categories = f.categories ?? [];
    nodes.push(
      node({
        opType: 'LabelEncoder',
        domain: ML_DOMAIN,
        inputs: [f.name],
        outputs: [codes],
        attributes: [
          attribute('keys_strings', { strings: categories }),
          attribute('values_floats', { floats: categories.map((_, i) => i) }),
          attribute('default_float', { float: -1 }),
        ],
      }),
    );
    return codes;
  });
  nodes.push(
    node({ opType: 'Concat', inputs: columns, outputs: [output], attributes: [attribute('axis', { int: 1 })] }),
  );
  return nodes;
}

/**
 * Nodes from raw scores [N, K] (base included) to the standard outputs.
 * `kind`: 'binary' (K = 1 logit), 'multiclass' (K logits) or 'regression'.
 */
export function outputNodes(
  kind: 'binary' | 'multiclass' | 'regression',
  margin: string,
  numClasses: number,
): { nodes: onnx.INodeProto[]; outputs: onnx.IValueInfoProto[]; initializers: onnx.ITensorProto[] } {
  if (kind === 'regression') {
    return {
      nodes: [node({ opType: 'Identity', inputs: [margin], outputs: [OUTPUT_VARIABLE] })],
      outputs: [valueInfo(OUTPUT_VARIABLE, DataType.FLOAT, ['N', 1])],
      initializers: [],
    };
  }
  const nodes: onnx.INodeProto[] = [];
  const initializers: onnx.ITensorProto[] = [];
  if (kind === 'binary') {
    const p1 = `${INTERNAL}p1`;
    const p0 = `${INTERNAL}p0`;
    const one = `${INTERNAL}one`;
    initializers.push(floatTensor([1], [1], one));
    nodes.push(
      node({ opType: 'Sigmoid', inputs: [margin], outputs: [p1] }),
      node({ opType: 'Sub', inputs: [one, p1], outputs: [p0] }),
      node({
        opType: 'Concat',
        inputs: [p0, p1],
        outputs: [OUTPUT_PROBABILITIES],
        attributes: [attribute('axis', { int: 1 })],
      }),
    );
  } else {
    nodes.push(
      node({
        opType: 'Softmax',
        inputs: [margin],
        outputs: [OUTPUT_PROBABILITIES],
        attributes: [attribute('axis', { int: 1 })],
      }),
    );
  }
  nodes.push(
    node({
      opType: 'ArgMax',
      inputs: [OUTPUT_PROBABILITIES],
      outputs: [OUTPUT_LABEL],
      attributes: [attribute('axis', { int: 1 }), attribute('keepdims', { int: 0 })],
    }),
  );
  return {
    nodes,
    initializers,
    outputs: [
      valueInfo(OUTPUT_LABEL, DataType.INT64, ['N']),
      valueInfo(OUTPUT_PROBABILITIES, DataType.FLOAT, ['N', numClasses]),
    ],
  };
}

/** Metadata entries: the model card, then the class names of classifiers. */
export function exportMetadata(options: OnnxExportOptions, classes: readonly string[] | null): [string, string][] {
  const metadata: [string, string][] = [];
  if (options.modelCard !== undefined) metadata.push([MODEL_CARD_METADATA_KEY, JSON.stringify(options.modelCard)]);
  if (classes) metadata.push([CLASSES_METADATA_KEY, JSON.stringify(classes)]);
  return metadata;
}

/** TreeEnsemble node modes (ai.onnx.ml opset 5). */
const MODE_BRANCH_LEQ = 0;
const MODE_BRANCH_MEMBER = 6;

/** The TreeEnsemble node holding every tree of the model. */
function treeEnsembleNode(model: GbdtModel, input: string, output: string): onnx.INodeProto {
  const K = model.numOutputs;
  const roots: number[] = [];
  const featureIds: number[] = [];
  const modes: number[] = [];
  const splits: number[] = [];
  const trueIds: number[] = [];
  const trueLeafs: number[] = [];
  const falseIds: number[] = [];
  const falseLeafs: number[] = [];
  const missingTrue: number[] = [];
  const membership: number[] = [];
  const leafTargets: number[] = [];
  const leafWeights: number[] = [];

  model.trees.forEach((tree, t) => {
    const nodeBase = featureIds.length;
    const leafBase = leafWeights.length;
    roots.push(nodeBase);
    const m = nodeCount(tree);
    if (m === 0) {
      // TreeEnsemble has no leaf-only trees: a node whose two branches reach the one leaf.
      featureIds.push(0);
      modes.push(MODE_BRANCH_LEQ);
      splits.push(0);
      trueIds.push(leafBase);
      trueLeafs.push(1);
      falseIds.push(leafBase);
      falseLeafs.push(1);
      missingTrue.push(1);
    }
    for (let i = 0; i < m; i++) {
      featureIds.push(tree.feature[i]);
      const categories = tree.categories[i];
      if (categories) {
        modes.push(MODE_BRANCH_MEMBER);
        splits.push(0);
        membership.push(...categories, NaN);
        missingTrue.push(0);
      } else {
        modes.push(MODE_BRANCH_LEQ);
        splits.push(tree.threshold[i]);
        missingTrue.push(tree.defaultLeft[i] ? 1 : 0);
      }
      const l = tree.left[i];
      const r = tree.right[i];
      trueLeafs.push(l < 0 ? 1 : 0);
      trueIds.push(l < 0 ? leafBase + ~l : nodeBase + l);
      falseLeafs.push(r < 0 ? 1 : 0);
      falseIds.push(r < 0 ? leafBase + ~r : nodeBase + r);
    }
    for (const value of tree.leafValue) {
      leafTargets.push(t % K);
      leafWeights.push(value);
    }
  });

  const attributes = [
    attribute('aggregate_function', { int: 1 }), // SUM
    attribute('leaf_targetids', { ints: leafTargets }),
    attribute('leaf_weights', { tensor: floatTensor([leafWeights.length], leafWeights) }),
    attribute('n_targets', { int: K }),
    attribute('nodes_falseleafs', { ints: falseLeafs }),
    attribute('nodes_falsenodeids', { ints: falseIds }),
    attribute('nodes_featureids', { ints: featureIds }),
    attribute('nodes_missing_value_tracks_true', { ints: missingTrue }),
    attribute('nodes_modes', { tensor: uint8Tensor([modes.length], modes) }),
    attribute('nodes_splits', { tensor: floatTensor([splits.length], splits) }),
    attribute('nodes_trueleafs', { ints: trueLeafs }),
    attribute('nodes_truenodeids', { ints: trueIds }),
    attribute('post_transform', { int: 0 }), // NONE: the link is applied by standard ops after the base score
    attribute('tree_roots', { ints: roots }),
  ];
  if (membership.length) {
    attributes.splice(1, 0, attribute('membership_values', { tensor: floatTensor([membership.length], membership) }));
  }
  return node({ opType: 'TreeEnsemble', domain: ML_DOMAIN, inputs: [input], outputs: [output], attributes });
}

/**
 * Exports a GBDT model with its preprocessing to ONNX bytes. The same model and options always
 * give the same bytes.
 *
 * @example
 * const bytes = exportGbdtToOnnx(model, { modelCard: { name: 'flight-delay', version: 3 } });
 * const session = await ort.InferenceSession.create(bytes);
 */
export function exportGbdtToOnnx(model: GbdtModel, options: OnnxExportOptions = {}): Uint8Array {
  if (model.trees.length === 0) throw new OnnxExportError('model has no trees');
  const features = `${INTERNAL}features`;
  const scores = `${INTERNAL}scores`;
  const margin = `${INTERNAL}margin`;
  const base = `${INTERNAL}base_score`;
  const inputs = featureInputs(model.features);
  const out = outputNodes(model.objective, margin, model.numClasses);
  return encodeModel({
    graphName: 'mlpipe_gbdt',
    inputs,
    nodes: [
      ...featureCodesNodes(model.features, features),
      treeEnsembleNode(model, features, scores),
      node({ opType: 'Add', inputs: [scores, base], outputs: [margin] }),
      ...out.nodes,
    ],
    outputs: out.outputs,
    initializers: [floatTensor([model.numOutputs], model.baseScore, base), ...out.initializers],
    metadata: exportMetadata(options, model.classes),
    producerVersion: options.producerVersion,
    docString: options.docString,
  });
}

/**
 * Exports a linear model with its preprocessing to ONNX bytes: Imputer (NaN → mean) and Scaler
 * on the numeric inputs, OneHotEncoder (unseen / "" → zeros) per categorical input, then
 * MatMul + Add and the same output nodes as the GBDT export.
 *
 * @example
 * const bytes = exportLinearToOnnx(model, { modelCard });
 */
export function exportLinearToOnnx(model: LinearModel, options: OnnxExportOptions = {}): Uint8Array {
  const inputs = featureInputs(model.features);
  const K = model.numOutputs;
  const D = model.numColumns;
  if (D === 0) throw new OnnxExportError('model has no design columns');
  const nodes: onnx.INodeProto[] = [];
  const initializers: onnx.ITensorProto[] = [];
  const blocks: string[] = [];

  const numeric = model.features.filter((f) => f.kind === 'numeric');
  if (numeric.length) {
    const raw = `${INTERNAL}numeric`;
    const imputed = `${INTERNAL}imputed`;
    const scaled = `${INTERNAL}scaled`;
    nodes.push(
      node({
        opType: 'Concat',
        inputs: numeric.map((f) => f.name),
        outputs: [raw],
        attributes: [attribute('axis', { int: 1 })],
      }),
      node({
        opType: 'Imputer',
        domain: ML_DOMAIN,
        inputs: [raw],
        outputs: [imputed],
        attributes: [
          attribute('imputed_value_floats', { floats: numeric.map((f) => f.mean) }),
          attribute('replaced_value_float', { float: NaN }),
        ],
      }),
      node({
        opType: 'Scaler',
        domain: ML_DOMAIN,
        inputs: [imputed],
        outputs: [scaled],
        attributes: [
          attribute('offset', { floats: numeric.map((f) => f.mean) }),
          attribute('scale', { floats: numeric.map((f) => f.scale) }),
        ],
      }),
    );
    blocks.push(scaled);
  }
  for (const feature of model.features) {
    if (feature.kind !== 'categorical' || feature.categories.length === 0) continue;
    const hot3d = `${INTERNAL}onehot3d.${feature.name}`;
    const hot = `${INTERNAL}onehot.${feature.name}`;
    nodes.push(
      node({
        opType: 'OneHotEncoder',
        domain: ML_DOMAIN,
        inputs: [feature.name],
        outputs: [hot3d],
        attributes: [attribute('cats_strings', { strings: feature.categories }), attribute('zeros', { int: 1 })],
      }),
      // OneHotEncoder appends the category axis: [N, 1, C] → [N, C].
      node({ opType: 'Flatten', inputs: [hot3d], outputs: [hot], attributes: [attribute('axis', { int: 1 })] }),
    );
    blocks.push(hot);
  }
  const design = `${INTERNAL}design`;
  const product = `${INTERNAL}product`;
  const margin = `${INTERNAL}margin`;
  const weights = `${INTERNAL}weights`;
  const bias = `${INTERNAL}bias`;
  initializers.push(floatTensor([D, K], model.weights, weights), floatTensor([K], model.bias, bias));
  nodes.push(
    node({ opType: 'Concat', inputs: blocks, outputs: [design], attributes: [attribute('axis', { int: 1 })] }),
    node({ opType: 'MatMul', inputs: [design, weights], outputs: [product] }),
    node({ opType: 'Add', inputs: [product, bias], outputs: [margin] }),
  );
  const out = outputNodes(model.objective, margin, model.numClasses);
  return encodeModel({
    graphName: 'mlpipe_linear',
    inputs,
    nodes: [...nodes, ...out.nodes],
    outputs: out.outputs,
    initializers: [...initializers, ...out.initializers],
    metadata: exportMetadata(options, model.classes),
    producerVersion: options.producerVersion,
    docString: options.docString,
  });
}
