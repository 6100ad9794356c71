/**
 * Small helpers over onnx-proto's protobuf classes: attributes, tensors, value infos, nodes and
 * the model envelope, so the exporters read as graphs rather than as protobuf plumbing.
 *
 * Encoding is deterministic: the same arguments produce the same bytes (protobufjs writes fields
 * in declaration order and typed floats with a fixed NaN pattern).
 */
import { onnx } from 'onnx-proto';

const AttributeType = onnx.AttributeProto.AttributeType;
export const DataType = onnx.TensorProto.DataType;

/**
 * The IR version and opsets every exported model declares. ai.onnx.ml 5 brings TreeEnsemble
 * with BRANCH_MEMBER (set-membership splits); it shipped with ONNX 1.16 alongside ai.onnx 21
 * and IR version 10, all of which onnxruntime(-node) 1.30 runs.
 */
export const ONNX_IR_VERSION = 10;
export const ONNX_OPSET = 21;
export const ONNX_ML_OPSET = 5;
export const ML_DOMAIN = 'ai.onnx.ml';

/** Metadata key holding the model card JSON. */
export const MODEL_CARD_METADATA_KEY = 'mlpipe.model_card';
/** Metadata key holding the class names (JSON array) of classifiers, by `label` index. */
export const CLASSES_METADATA_KEY = 'mlpipe.classes';

const utf8 = (s: string): Uint8Array => Buffer.from(s, 'utf8');

export type AttributeValue =
  | { int: number }
  | { float: number }
  | { string: string }
  | { ints: readonly number[] }
  | { floats: readonly number[] }
  | { strings: readonly string[] }
  | { tensor: onnx.ITensorProto };

/** An attribute proto; exactly one value kind per attribute. */
export function attribute(name: string, value: AttributeValue): onnx.IAttributeProto {
  if ('int' in value) return { name, type: AttributeType.INT, i: value.int };
  if ('float' in value) return { name, type: AttributeType.FLOAT, f: value.float };
  if ('string' in value) return { name, type: AttributeType.STRING, s: utf8(value.string) };
  if ('ints' in value) return { name, type: AttributeType.INTS, ints: [...value.ints] };
  if ('floats' in value) return { name, type: AttributeType.FLOATS, floats: [...value.floats] };
  if ('strings' in value) return { name, type: AttributeType.STRINGS, strings: value.strings.map(utf8) };
  return { name, type: AttributeType.TENSOR, t: value.tensor };
}

/** A float32 tensor (values are rounded to float32 by the encoding). */
export function floatTensor(dims: readonly number[], values: ArrayLike<number>, name?: string): onnx.ITensorProto {
  return { name, dims: [...dims], dataType: DataType.FLOAT, floatData: Array.from(values) };
}

/** A uint8 tensor; ONNX stores uint8 values in int32_data. */
export function uint8Tensor(dims: readonly number[], values: ArrayLike<number>): onnx.ITensorProto {
  return { dims: [...dims], dataType: DataType.UINT8, int32Data: Array.from(values) };
}

/** A graph input/output description; string dims are symbolic (e.g. 'N' for the batch). */
export function valueInfo(name: string, elemType: number, dims: readonly (number | string)[]): onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
      },
    },
  };
}

export interface NodeSpec {
  opType: string;
  inputs: readonly string[];
  outputs: readonly string[];
  name?: string;
  domain?: string;
  attributes?: readonly onnx.IAttributeProto[];
}

export function node(spec: NodeSpec): onnx.INodeProto {
  return {
    opType: spec.opType,
    input: [...spec.inputs],
    output: [...spec.outputs],
    name: spec.name ?? spec.outputs[0],
    domain: spec.domain ?? '',
    attribute: spec.attributes ? [...spec.attributes] : [],
  };
}

export interface ModelSpec {
  graphName: string;
  nodes: onnx.INodeProto[];
  inputs: onnx.IValueInfoProto[];
  outputs: onnx.IValueInfoProto[];
  initializers?: onnx.ITensorProto[];
  /** Metadata entries, written in the order given. */
  metadata?: readonly (readonly [string, string])[];
  producerVersion?: string;
  docString?: string;
}

/** Encodes a complete model with mlpipe's IR version and opsets. */
export function encodeModel(spec: ModelSpec): Uint8Array {
  const model: onnx.IModelProto = {
    irVersion: ONNX_IR_VERSION,
    producerName: 'mlpipe',
    producerVersion: spec.producerVersion ?? '',
    docString: spec.docString ?? '',
    opsetImport: [
      { domain: '', version: ONNX_OPSET },
      { domain: ML_DOMAIN, version: ONNX_ML_OPSET },
    ],
    graph: {
      name: spec.graphName,
      node: spec.nodes,
      input: spec.inputs,
      output: spec.outputs,
      initializer: spec.initializers ?? [],
    },
    metadataProps: (spec.metadata ?? []).map(([key, value]) => ({ key, value })),
  };
  return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
}

/** Reads back a model's metadata entries (for tests and the registry). */
export function readOnnxMetadata(bytes: Uint8Array): Record<string, string> {
  const model = onnx.ModelProto.decode(bytes);
  return Object.fromEntries(model.metadataProps.map((e) => [e.key, e.value]));
}
