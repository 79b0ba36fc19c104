/** A link to a saved artifact that anyone holding it can download until it expires. */
export interface ArtifactLink {
  readonly url: string;
  readonly expiresAt: Date;
}

/** Where generated files (workbooks, CSV) are kept: a local directory, or a blob container in Azure. */
export interface ArtifactStore {
  save(name: string, content: Buffer, contentType: string): Promise<string>;
  /**
   * Saves content produced piece by piece (a large export), so it never has to sit in memory whole. Like
   * `save`, readers see the old artifact or the whole new one. An error thrown by `chunks` is passed on as it
   * is, and nothing is saved.
   */
  saveStream(name: string, chunks: Iterable<string | Buffer> | AsyncIterable<string | Buffer>, contentType: string): Promise<string>;
  /**
   * A read-only download link to a saved artifact, valid for `expiresInHours` from now; undefined when this
   * store cannot hand out links (a local folder), and then the caller attaches the file instead.
   */
  link(name: string, expiresInHours: number): Promise<ArtifactLink | undefined>;
  /** A saved artifact's bytes, or undefined when there is none by that name (a work item's stored input). */
  read(name: string): Promise<Buffer | undefined>;
  /**
   * Saves one part of an artifact that `joinParts` puts together later: each team's work item writes its own
   * rows of the month's FOCUS export, so no single item writes the whole month. Saving a part again replaces
   * it. Readers of `name` see nothing of a part until the join. Part names are artifact-safe names.
   */
  savePart(name: string, part: string, chunks: Iterable<string | Buffer> | AsyncIterable<string | Buffer>): Promise<void>;
  /**
   * Makes `name` the listed parts' bytes in this order, at once (readers see the old artifact or the whole
   * new one), and then lets the parts go. A listed part that was never saved, or is no longer kept, is an
   * AppError NOT_FOUND naming it: never an empty part. Joining the same parts again after a join that
   * succeeded (a rerun after a crash) answers the artifact's location again.
   */
  joinParts(name: string, parts: readonly string[], contentType: string): Promise<string>;
}
