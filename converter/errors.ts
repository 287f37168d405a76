/**
 * Error types of the checkpoint reader. Every failure the reader can diagnose is thrown as one of
 * these, with a message that says what was wrong and what to do about it.
 */

/** A file that is not a readable PyTorch checkpoint (wrong format, truncated, corrupt, unsupported). */
export class CheckpointError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CheckpointError';
  }
}

/** A pickle that asks for something other than plain data and tensors (a global, INST/OBJ, ...). */
export class UnsafePickleError extends CheckpointError {
  constructor(message: string) {
    super(message);
    this.name = 'UnsafePickleError';
  }
}
