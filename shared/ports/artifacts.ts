/** Where generated files (workbooks, CSV) are kept: a local directory, or a blob container in Azure. */
export interface ArtifactStore {
  save(name: string, content: Buffer, contentType: string): Promise<string>;
}
