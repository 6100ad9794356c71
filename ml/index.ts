export * from './table';
export * from './random';
export * from './binning';
export * from './gbdt';
export * from './predict';
export * from './linear';
export * from './metrics';
export * from './onnx-export';
export {
  CLASSES_METADATA_KEY,
  MODEL_CARD_METADATA_KEY,
  ONNX_IR_VERSION,
  ONNX_ML_OPSET,
  ONNX_OPSET,
  readOnnxMetadata,
} from './onnx-builder';
export { sigmoid, transformScores, type ObjectiveName } from './objective';
