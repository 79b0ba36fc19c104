import type { Team } from '../domain/directory.js';
import type { Money } from '../domain/money.js';
import type { TimeWindow } from '../domain/periods.js';
import type { PriceBook } from '../domain/price-book.js';
import { compareTeamIds, type MonthlyLine } from '../domain/rollup.js';
import type { ArtifactStore } from '../ports/artifacts.js';
import type { CostExporter, CostExportMonth } from '../ports/cost-export.js';
import type { MailDownload, ReportMailOptions } from '../ports/report-mails.js';
import type { Logger } from '../ports/runtime.js';

/** The names of a close's files and mails, and how its mails carry files: shared by the close and its work items. */

export const XLSX_TYPE = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';
export const CSV_TYPE = 'text/csv; charset=utf-8';

const revisionSuffix = (revision: number) => (revision > 1 ? `-r${revision}` : '');

export function workbookName(month: string, revision: number): string {
  return `chargeback-${month}${revisionSuffix(revision)}.xlsx`;
}

/** Team ids are [a-z0-9._-]; a ".." inside one would read as a parent reference in a file name. */
export function teamWorkbookName(month: string, revision: number, teamId: string, held = false): string {
  return `chargeback-${month}-team-${teamId.replace(/\.{2,}/g, '.')}${revisionSuffix(revision)}${held ? '-held' : ''}.xlsx`;
}

/** A held close's workbook, for the operator: never named like one finance received. */
export function heldWorkbookName(month: string, revision: number): string {
  return `chargeback-${month}-r${revision}-held.xlsx`;
}

export function rejectsName(month: string, revision: number): string {
  return `rejects-${month}${revisionSuffix(revision)}.csv`;
}

export function focusName(month: string, revision: number): string {
  return `focus-${month}${revisionSuffix(revision)}.csv`;
}

export function financeDeliveryKey(month: string, revision: number): string {
  return `${month}|r${revision}|finance`;
}

export function teamDeliveryKey(month: string, revision: number, teamId: string): string {
  return `${month}|r${revision}|team|${teamId}`;
}

export interface ArtifactMailSettings {
  /** A workbook larger than this is linked, not attached; 0 links every workbook. */
  readonly attachMaxBytes: number;
  readonly linkHours: number;
}

const DEFAULT_ARTIFACT_MAIL: ArtifactMailSettings = { attachMaxBytes: 10 * 1024 * 1024, linkHours: 168 };

/**
 * What a mail carries of its files: the workbook attached up to the size limit and above it a link that
 * expires; the FOCUS export (gigabytes at scale) only ever as a link. A store that makes no links (a local
 * folder) gets the workbook attached whatever its size, with a warning, and the export left out as before.
 */
export async function mailFiles(
  deps: { readonly artifacts: ArtifactStore; readonly logger: Logger; readonly settings: { readonly artifactMail?: ArtifactMailSettings } },
  files: { readonly workbook: { readonly filename: string; readonly content: Buffer }; readonly focusExport?: string },
): Promise<Pick<ReportMailOptions, 'attachment' | 'downloads'>> {
  const { attachMaxBytes, linkHours } = deps.settings.artifactMail ?? DEFAULT_ARTIFACT_MAIL;
  const { filename, content } = files.workbook;
  const downloads: MailDownload[] = [];
  let attach = true;
  if (content.length > attachMaxBytes) {
    const link = await deps.artifacts.link(filename, linkHours);
    if (link) {
      downloads.push({ kind: 'workbook', filename, url: link.url, expiresAt: link.expiresAt, bytes: content.length });
      attach = false;
    } else {
      deps.logger.warn(`${filename} (${content.length} bytes) is over the attachment limit of ${attachMaxBytes} bytes, but the artifact store makes no links: attached anyway`);
    }
  }
  if (files.focusExport !== undefined) {
    const link = await deps.artifacts.link(files.focusExport, linkHours);
    if (link) downloads.push({ kind: 'focus-export', filename: files.focusExport, url: link.url, expiresAt: link.expiresAt });
  }
  return {
    ...(attach ? { attachment: { filename, contentType: XLSX_TYPE, content } } : {}),
    ...(downloads.length > 0 ? { downloads } : {}),
  };
}

interface FocusExportInput {
  month: string;
  window: TimeWindow;
  revision: number;
  lines: readonly MonthlyLine[];
  priceBook: PriceBook;
  teams: ReadonlyMap<string, Team>;
  billedRates?: ReadonlyMap<string, Money> | undefined;
}

type FocusDeps = { readonly costExport: CostExporter; readonly artifacts: ArtifactStore; readonly settings: { readonly timeZone: string } };

/** The month as a FOCUS CSV, written as it is produced: about 25 rows per line would be a large string. */
export async function writeFocusExport(deps: FocusDeps, input: FocusExportInput): Promise<string> {
  const exportMonth = focusMonth(deps, input);
  const focus = deps.costExport.focusCsvChunks?.(exportMonth) ?? [deps.costExport.focusCsv(exportMonth)];
  return deps.artifacts.saveStream(focusName(input.month, input.revision), focus, CSV_TYPE);
}

/**
 * The part of the FOCUS export one fanned-out item writes: the rows of its lines (one team's, or the
 * unallocated ones), which `joinFocusExport` puts after the header in team order.
 */
export async function writeFocusPart(deps: FocusDeps, input: FocusExportInput & { part: string }): Promise<void> {
  await deps.artifacts.savePart(focusName(input.month, input.revision), input.part, deps.costExport.focusCsvRowChunks(focusMonth(deps, input)));
}

/** Team ids are [a-z0-9._-]: no team's part can be named like the header's. */
const FOCUS_HEADER_PART = '~header';

/**
 * The FOCUS export of a fanned-out close: the header and then every team's part in the order of the lines
 * (`compareLines` sorts by team first), so the file is byte for byte the one the inline close writes.
 */
export async function joinFocusExport(deps: FocusDeps, input: { month: string; revision: number; teamIds: readonly string[] }): Promise<string> {
  const name = focusName(input.month, input.revision);
  await deps.artifacts.savePart(name, FOCUS_HEADER_PART, [deps.costExport.focusCsvHeader()]);
  return deps.artifacts.joinParts(name, [FOCUS_HEADER_PART, ...[...input.teamIds].sort(compareTeamIds)], CSV_TYPE);
}

function focusMonth(deps: Pick<FocusDeps, 'settings'>, input: FocusExportInput): CostExportMonth {
  return {
    month: input.month,
    timeZone: deps.settings.timeZone,
    window: input.window,
    currency: input.priceBook.currency,
    lines: input.lines,
    priceBook: input.priceBook,
    teamNames: new Map([...input.teams.values()].map((team) => [team.id, team.name])),
    teamCostCenters: new Map([...input.teams.values()].flatMap((team) => (team.costCenter === undefined ? [] : [[team.id, team.costCenter] as const]))),
    ...(input.billedRates ? { billedRates: input.billedRates } : {}),
  };
}
