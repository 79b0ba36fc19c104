import path from 'node:path';
import { AppError } from '../domain/errors.js';
import { DEFAULT_METRIC_MAPPING, metricMappingProblems, type MetricMapping } from '../domain/metric-mapping.js';
import { assertTimeZone } from '../domain/periods.js';
import { isTokenKind, type TokenKind } from '../domain/tokens.js';

/**
 * Every setting the product reads, validated once. Values come from app settings in Azure (environment
 * variables) or from the command line, which maps its options onto the same names.
 */
export interface Settings {
  readonly timeZone: string;
  readonly usage: { readonly kind: 'file'; readonly files: readonly string[] };
  readonly metricMapping: MetricMapping;
  readonly directory: { readonly kind: 'file'; readonly path: string };
  readonly priceBookPath: string;
  readonly storage: { readonly connectionString: string | null; readonly tablePrefix: string };
  readonly mail: { readonly transport: 'outbox'; readonly outboxDir: string; readonly from: string; readonly financeRecipients: readonly string[] };
  readonly artifactsDir: string;
}

export type SettingsSource = Readonly<Record<string, string | undefined>>;

/** The names of the settings, as app settings / environment variables. */
export const SETTING = {
  timeZone: 'REPORTING_TIME_ZONE',
  usageSource: 'USAGE_SOURCE',
  usageFiles: 'USAGE_FILES',
  metricTokenKinds: 'METRIC_TOKEN_KINDS',
  metricTotal: 'METRIC_TOTAL_TOKENS',
  metricRequests: 'METRIC_REQUEST_COUNT',
  dimensionUserId: 'DIMENSION_USER_ID',
  dimensionModel: 'DIMENSION_MODEL',
  dimensionTier: 'DIMENSION_TIER',
  directorySource: 'DIRECTORY_SOURCE',
  directoryFile: 'DIRECTORY_FILE',
  priceBookFile: 'PRICE_BOOK_FILE',
  storageConnection: 'STORAGE_CONNECTION_STRING',
  tablePrefix: 'TABLE_PREFIX',
  mailTransport: 'MAIL_TRANSPORT',
  outboxDir: 'OUTBOX_DIR',
  mailFrom: 'MAIL_FROM',
  financeRecipients: 'FINANCE_RECIPIENTS',
  artifactsDir: 'ARTIFACTS_DIR',
} as const;

const MAIL = /^[^\s@<>,;"]+@[^\s@<>,;"]+\.[^\s@<>,;"]+$/;
const TABLE_PREFIX = /^[A-Za-z][A-Za-z0-9]{0,29}$/;

export function loadSettings(source: SettingsSource, options: { projectRoot: string }): Settings {
  const problems: string[] = [];
  const text = (name: string, fallback: string) => {
    const value = source[name]?.trim();
    return value === undefined || value === '' ? fallback : value;
  };
  const list = (name: string) =>
    (source[name] ?? '')
      .split(/[;,]/)
      .map((item) => item.trim())
      .filter((item) => item !== '');
  const resolvePath = (value: string) => path.resolve(options.projectRoot, value);

  let timeZone = text(SETTING.timeZone, 'UTC');
  try {
    assertTimeZone(timeZone);
  } catch (error) {
    problems.push(`${SETTING.timeZone}: ${(error as Error).message}`);
    timeZone = 'UTC';
  }

  const usageKind = text(SETTING.usageSource, 'file');
  if (usageKind !== 'file') problems.push(`${SETTING.usageSource}: "${usageKind}" is not supported here (expected "file")`);
  const usageFiles = list(SETTING.usageFiles).map(resolvePath);
  if (usageFiles.length === 0) problems.push(`${SETTING.usageFiles}: name at least one usage export file (.csv or .ndjson)`);

  const metricMapping = readMetricMapping(source, problems);

  const directoryKind = text(SETTING.directorySource, 'file');
  if (directoryKind !== 'file') problems.push(`${SETTING.directorySource}: "${directoryKind}" is not supported here (expected "file")`);
  const directoryFile = text(SETTING.directoryFile, '');
  if (directoryFile === '') problems.push(`${SETTING.directoryFile}: name the directory file (users to teams)`);

  const tablePrefix = text(SETTING.tablePrefix, 'chargeback');
  if (!TABLE_PREFIX.test(tablePrefix)) problems.push(`${SETTING.tablePrefix}: "${tablePrefix}" must be 1-30 letters and digits, starting with a letter`);

  const transport = text(SETTING.mailTransport, 'outbox');
  if (transport !== 'outbox') problems.push(`${SETTING.mailTransport}: "${transport}" is not supported here (expected "outbox")`);
  const mailFrom = text(SETTING.mailFrom, 'chargeback@contoso.example');
  if (!MAIL.test(mailFrom)) problems.push(`${SETTING.mailFrom}: "${mailFrom}" is not a mail address`);
  const financeRecipients = list(SETTING.financeRecipients);
  for (const address of financeRecipients) {
    if (!MAIL.test(address)) problems.push(`${SETTING.financeRecipients}: "${address}" is not a mail address`);
  }

  if (problems.length > 0) {
    throw new AppError('CONFIG_INVALID', `the settings have ${problems.length} problem(s)`, { details: problems });
  }
  const connectionString = source[SETTING.storageConnection]?.trim() || null;
  return Object.freeze({
    timeZone,
    usage: Object.freeze({ kind: 'file' as const, files: Object.freeze(usageFiles) }),
    metricMapping,
    directory: Object.freeze({ kind: 'file' as const, path: resolvePath(directoryFile) }),
    priceBookPath: resolvePath(text(SETTING.priceBookFile, 'data/price-book.json')),
    storage: Object.freeze({ connectionString, tablePrefix }),
    mail: Object.freeze({
      transport: 'outbox' as const,
      outboxDir: resolvePath(text(SETTING.outboxDir, 'out/outbox')),
      from: mailFrom,
      financeRecipients: Object.freeze(financeRecipients),
    }),
    artifactsDir: resolvePath(text(SETTING.artifactsDir, 'out/reports')),
  });
}

/**
 * METRIC_TOKEN_KINDS maps metric names to token kinds, e.g.
 * "Prompt Tokens=input;Completion Tokens=output;Cache Read Tokens=cacheRead".
 */
function readMetricMapping(source: SettingsSource, problems: string[]): MetricMapping {
  const raw = source[SETTING.metricTokenKinds]?.trim();
  let tokenKinds: Record<string, TokenKind> = { ...DEFAULT_METRIC_MAPPING.tokenKinds };
  if (raw) {
    tokenKinds = {};
    for (const pair of raw.split(';').filter((p) => p.trim() !== '')) {
      const [name, kind] = pair.split('=').map((part) => part.trim());
      if (!name || !kind || !isTokenKind(kind)) problems.push(`${SETTING.metricTokenKinds}: "${pair}" is not "Metric Name=tokenKind"`);
      else tokenKinds[name] = kind;
    }
  }
  const total = source[SETTING.metricTotal];
  const mapping: MetricMapping = {
    tokenKinds,
    totalTokensMetric: total === undefined ? DEFAULT_METRIC_MAPPING.totalTokensMetric : total.trim() === '' ? null : total.trim(),
    requestCountMetric: source[SETTING.metricRequests]?.trim() || DEFAULT_METRIC_MAPPING.requestCountMetric,
    dimensions: {
      userId: source[SETTING.dimensionUserId]?.trim() || DEFAULT_METRIC_MAPPING.dimensions.userId,
      model: source[SETTING.dimensionModel]?.trim() || DEFAULT_METRIC_MAPPING.dimensions.model,
      tier: source[SETTING.dimensionTier]?.trim() || DEFAULT_METRIC_MAPPING.dimensions.tier,
    },
  };
  problems.push(...metricMappingProblems(mapping).map((p) => `metric mapping: ${p}`));
  return Object.freeze(mapping);
}
