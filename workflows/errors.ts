/**
 * Error types are a contract: activities throw `ApplicationFailure`s with these `type`s, and the interpreter never
 * retries them. Their names say what happens next.
 */
export const ErrorTypes = {
  /** The definition failed validation: fix the YAML. */
  DefinitionInvalid: 'DefinitionInvalid',
  /** No pipeline by that name on the worker. */
  PipelineNotFound: 'PipelineNotFound',
  /** Run parameters do not match the definition's `params`. */
  ParamsInvalid: 'ParamsInvalid',
  /** An expression could not be evaluated at run time. */
  ExpressionFailed: 'ExpressionFailed',
  /** A step returned more than the payload limit: write an artifact and return its URI. */
  StepOutputTooLarge: 'StepOutputTooLarge',
  /** A step's `with` does not match its type's schema. */
  StepInputInvalid: 'StepInputInvalid',
  /** Data broke an expectation. */
  DataValidationFailed: 'DataValidationFailed',
  /** A model missed an evaluation gate. */
  GateFailed: 'GateFailed',
  /** Bytes do not hash to the recorded sha256: refuse them; re-create the artifact. */
  IntegrityCheckFailed: 'IntegrityCheckFailed',
  /** A dataset or artifact URI that this worker's store does not hold. */
  DatasetNotFound: 'DatasetNotFound',
  ApprovalRejected: 'ApprovalRejected',
  ApprovalTimedOut: 'ApprovalTimedOut',
} as const;

export type ErrorType = (typeof ErrorTypes)[keyof typeof ErrorTypes];

/** Never retried, whatever a step's retry policy says. */
export const permanentErrorTypes: string[] = Object.values(ErrorTypes);
