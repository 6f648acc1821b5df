/** The disk failed us (I/O error, full disk): the node must stop, it cannot promise durability. */
export class StorageError extends Error {
  override readonly name = 'StorageError';
}

/**
 * The data directory holds damage recovery must not paper over: a bad record followed by good
 * ones (corruption in the middle of the log), a corrupt snapshot the log depends on, or files
 * from a different format. Starting anyway could lose acknowledged writes, so the node refuses.
 */
export class CorruptDataError extends Error {
  override readonly name = 'CorruptDataError';
  readonly file: string;
  constructor(file: string, detail: string, options?: ErrorOptions) {
    super(`${file}: ${detail}`, options);
    this.file = file;
  }
}
