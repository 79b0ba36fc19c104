import type { ArtifactMailSettings } from '../use-cases/close-month.js';

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
  readonly mail: ArtifactMailSettings;
}

type Source = Readonly<Record<string, string | undefined>>;

export function readArtifactSettings(source: Source, problems: string[]): ArtifactSettings {
  const text = (name: string) => source[name]?.trim() ?? '';
  const kind = text(ARTIFACT_SETTING.store) || 'directory';
  let location: ArtifactLocation = { kind: 'directory' };
  if (kind === 'blob') {
    const containerUrl = text(ARTIFACT_SETTING.containerUrl);
    const connectionString = text(ARTIFACT_SETTING.blobConnectionString);
    if (containerUrl !== '') {
      if (!/^https:\/\/[^/\s]+\/[a-z0-9-]{3,63}\/?$/.test(containerUrl)) problems.push(`${ARTIFACT_SETTING.containerUrl}: "${containerUrl}" must be an https container URL such as https://account.blob.core.windows.net/artifacts`);
      location = { kind: 'blob', containerUrl: containerUrl.replace(/\/$/, '') };
    } else if (connectionString !== '') {
      const container = text(ARTIFACT_SETTING.container) || 'artifacts';
      if (!/^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/.test(container)) problems.push(`${ARTIFACT_SETTING.container}: "${container}" is not a container name (3-63 lowercase letters, digits and single hyphens)`);
      location = { kind: 'blob-connection', connectionString, container };
    } else {
      problems.push(`${ARTIFACT_SETTING.store}: blob needs ${ARTIFACT_SETTING.containerUrl} (managed identity) or ${ARTIFACT_SETTING.blobConnectionString}`);
    }
  } else if (kind !== 'directory') {
    problems.push(`${ARTIFACT_SETTING.store}: "${kind}" is not directory or blob`);
  }

  const attachMaxMbText = text(ARTIFACT_SETTING.attachMaxMb) || '10';
  const attachMaxMb = Number(attachMaxMbText);
  if (!Number.isFinite(attachMaxMb) || attachMaxMb < 0) problems.push(`${ARTIFACT_SETTING.attachMaxMb}: "${attachMaxMbText}" is not a size in MB (0 or more; 0 links every workbook)`);
  const linkHoursText = text(ARTIFACT_SETTING.linkHours) || String(MAX_LINK_HOURS);
  const linkHours = Number(linkHoursText);
  if (!Number.isInteger(linkHours) || linkHours < 1 || linkHours > MAX_LINK_HOURS) problems.push(`${ARTIFACT_SETTING.linkHours}: "${linkHoursText}" is not a whole number of hours from 1 to ${MAX_LINK_HOURS} (7 days, the longest a link signed by the identity may live)`);

  return Object.freeze({
    location: Object.freeze(location),
    mail: Object.freeze({ attachMaxBytes: Math.round(attachMaxMb * 1024 * 1024), linkHours }),
  });
}
