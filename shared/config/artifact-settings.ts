import { z } from 'zod';
import { decimal, integer, optionalText, text } from './setting-kinds.js';

/** Where workbooks and exports are kept and when a mail links to them rather than attaching them (docs/artifacts.md). */
export const ARTIFACT_SETTING = {
  store: 'ARTIFACT_STORE',
  containerUrl: 'ARTIFACTS_CONTAINER_URL',
  blobConnectionString: 'ARTIFACTS_BLOB_CONNECTION_STRING',
  container: 'ARTIFACTS_CONTAINER',
  attachMaxMb: 'ARTIFACT_ATTACH_MAX_MB',
  linkHours: 'ARTIFACT_LINK_HOURS',
} as const;

/** Azure refuses a user delegation SAS valid for longer than seven days. */
const MAX_LINK_HOURS = 168;

/**
 * `directory`: the folder ARTIFACTS_DIR, and mails attach every workbook. `blob`: a Blob container, with the
 * managed identity (ARTIFACTS_CONTAINER_URL) or a connection string (ARTIFACTS_BLOB_CONNECTION_STRING and
 * ARTIFACTS_CONTAINER, e.g. Azurite); mails link what is too large to attach.
 */
export type ArtifactLocation =
  | { readonly kind: 'directory' }
  | { readonly kind: 'blob'; readonly containerUrl: string }
  | { readonly kind: 'blob-connection'; readonly connectionString: string; readonly container: string };

export interface ArtifactSettings {
  readonly location: ArtifactLocation;
  /** A workbook larger than attachMaxBytes is linked, not attached (0 links every workbook); links live linkHours. */
  readonly mail: { readonly attachMaxBytes: number; readonly linkHours: number };
}

const A = ARTIFACT_SETTING;
const CONTAINER_URL = /^https:\/\/[^/\s]+\/[a-z0-9-]{3,63}\/?$/;
const CONTAINER_NAME = /^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/;

/** Two sections: where the artifacts go (a choice that needs the settings of its kind), and what mails carry. */
export function artifactSections() {
  return {
    artifactLocation: z
      .object({
        [A.store]: optionalText(),
        [A.containerUrl]: optionalText(),
        [A.blobConnectionString]: optionalText(),
        [A.container]: text('artifacts'),
      })
      .transform((values, ctx): ArtifactLocation => {
        const at = (name: string, message: string) => ctx.issues.push({ code: 'custom', path: [name], message, input: values, continue: true });
        const kind = values[A.store] ?? 'directory';
        if (kind === 'directory') return { kind: 'directory' };
        if (kind !== 'blob') {
          at(A.store, `"${kind}" is not directory or blob`);
          return { kind: 'directory' };
        }
        const containerUrl = values[A.containerUrl];
        const connectionString = values[A.blobConnectionString];
        if (containerUrl !== null) {
          if (!CONTAINER_URL.test(containerUrl)) at(A.containerUrl, `"${containerUrl}" must be an https container URL such as https://account.blob.core.windows.net/artifacts`);
          return { kind: 'blob', containerUrl: containerUrl.replace(/\/$/, '') };
        }
        if (connectionString !== null) {
          const container = values[A.container];
          if (!CONTAINER_NAME.test(container)) at(A.container, `"${container}" is not a container name (3-63 lowercase letters, digits and single hyphens)`);
          return { kind: 'blob-connection', connectionString, container };
        }
        at(A.store, `blob needs ${A.containerUrl} (managed identity) or ${A.blobConnectionString}`);
        return { kind: 'directory' };
      }),
    artifactMail: z.object({
      [A.attachMaxMb]: decimal(10, 'a size in MB (0 or more; 0 links every workbook)'),
      // Seven days: the longest a link signed by the identity may live.
      [A.linkHours]: integer(MAX_LINK_HOURS, 1, MAX_LINK_HOURS),
    }),
  };
}

type ArtifactSections = ReturnType<typeof artifactSections>;

export function artifactsOf(location: z.output<ArtifactSections['artifactLocation']>, mail: z.output<ArtifactSections['artifactMail']>): ArtifactSettings {
  return Object.freeze({
    location: Object.freeze(location),
    mail: Object.freeze({ attachMaxBytes: Math.round(mail[A.attachMaxMb] * 1024 * 1024), linkHours: mail[A.linkHours] }),
  });
}
