import { BlobServiceClient } from '@azure/storage-blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlobArtifactStore } from '../../shared/adapters/azure/blob-artifacts.js';
import { startAzuriteBlob, type RunningAzurite } from '../../shared/adapters/local/azurite.js';
import { ExcelReportRenderer } from '../../shared/adapters/reports/excel-workbook.js';
import { FocusCsvExporter } from '../../shared/adapters/reports/focus-csv.js';
import { HtmlReportMails } from '../../shared/adapters/reports/report-mails.js';
import { DEFAULT_CLOSE_CONTROL_LIMITS } from '../../shared/domain/close-controls.js';
import { AppError } from '../../shared/domain/errors.js';
import type { OutgoingMail } from '../../shared/ports/mailer.js';
import { silentLogger } from '../../shared/ports/runtime.js';
import { closeMonth, type ArtifactMailSettings, type CloseMonthDeps } from '../../shared/use-cases/close-month.js';
import { testDirectory, testPriceBook, tokens, usageRow } from '../support/domain-fixtures.js';
import {
  fixedClock,
  InMemoryArtifacts,
  InMemoryCloseRegistry,
  InMemoryDeliveryLedger,
  InMemoryLeases,
  InMemoryRollupStore,
  RecordingMailer,
  StaticDirectory,
  StaticPriceBooks,
  StaticUsageSource,
} from '../support/in-memory.js';

const FINANCE = 'finance@contoso.example';
const PAY_LEAD = 'pay@contoso.example';
const NOW = '2026-11-03T06:00:00Z';
const STORE = 'https://acct.blob.core.windows.net/artifacts';

function setup(artifacts: CloseMonthDeps['artifacts'], artifactMail?: ArtifactMailSettings) {
  const mailer = new RecordingMailer();
  const deps: CloseMonthDeps = {
    usageSource: new StaticUsageSource([
      usageRow({ day: '2026-10-01', userId: 'u1', tokens: tokens({ input: 2_000_000, output: 100_000 }) }),
      usageRow({ day: '2026-10-20', userId: 'u2', tokens: tokens({ input: 1_000_000 }) }),
    ]),
    directory: new StaticDirectory(
      testDirectory(
        [
          { userId: 'u1', teamId: 'payments' },
          { userId: 'u2', teamId: 'platform' },
        ],
        [
          { id: 'payments', name: 'Payments', leads: [PAY_LEAD] },
          { id: 'platform', name: 'Platform', leads: ['plat@contoso.example'] },
        ],
      ),
    ),
    priceBooks: new StaticPriceBooks(testPriceBook()),
    rollups: new InMemoryRollupStore(),
    closes: new InMemoryCloseRegistry(),
    deliveries: new InMemoryDeliveryLedger(),
    leases: new InMemoryLeases(),
    renderer: new ExcelReportRenderer(),
    reportMails: new HtmlReportMails(undefined, { charts: false }),
    costExport: new FocusCsvExporter(),
    artifacts,
    mailer,
    clock: fixedClock(NOW),
    logger: silentLogger,
    settings: {
      timeZone: 'UTC',
      financeRecipients: [FINANCE],
      mailFrom: 'chargeback@contoso.example',
      operatorRecipients: ['ops@contoso.example'],
      graceDays: 2,
      controls: DEFAULT_CLOSE_CONTROL_LIMITS,
      ...(artifactMail ? { artifactMail } : {}),
    },
  };
  return { deps, mailer };
}

const mailTo = (sent: readonly OutgoingMail[], address: string) => sent.find((mail) => mail.to.includes(address))!;
const fileNames = (mail: OutgoingMail) => mail.attachments.map((attachment) => attachment.filename);

describe('workbooks too large to attach, and the FOCUS export, as links that expire', () => {
  it('links a workbook over the attachment limit instead of attaching it, in the text and the HTML', async () => {
    const artifacts = new InMemoryArtifacts({ baseUrl: STORE, now: new Date(NOW) });
    const { deps, mailer } = setup(artifacts, { attachMaxBytes: 1024, linkHours: 48 });
    await closeMonth(deps, { month: '2026-10' });

    const finance = mailTo(mailer.sent, FINANCE);
    expect(fileNames(finance)).toEqual([]);
    const workbookUrl = `${STORE}/chargeback-2026-10.xlsx?se=2026-11-05T06:00:00.000Z`;
    const focusUrl = `${STORE}/focus-2026-10.csv?se=2026-11-05T06:00:00.000Z`;
    expect(finance.text).toMatch(/Download:\n {2}Workbook chargeback-2026-10\.xlsx \(too large to attach, \d+ KB\): \S+\n {2}FOCUS cost export focus-2026-10\.csv: \S+/);
    expect(finance.text).toContain(`: ${workbookUrl}\n`);
    expect(finance.text).toContain(`: ${focusUrl}\n`);
    expect(finance.text).toContain('The links work without signing in until 2026-11-05 06:00 UTC');
    expect(finance.html).toContain(`<a href="${workbookUrl}">Workbook chargeback-2026-10.xlsx (too large to attach`);
    expect(finance.html).toContain(`<a href="${focusUrl}">FOCUS cost export focus-2026-10.csv</a>`);
    // The link points at the very bytes the close saved.
    expect(artifacts.files.get('chargeback-2026-10.xlsx')!.length).toBeGreaterThan(1024);

    const lead = mailTo(mailer.sent, PAY_LEAD);
    expect(fileNames(lead)).toEqual([]);
    expect(lead.text).toContain(`Workbook chargeback-2026-10-team-payments.xlsx (too large to attach`);
    expect(lead.text).toContain(`${STORE}/chargeback-2026-10-team-payments.xlsx?se=2026-11-05T06:00:00.000Z`);
    // A team's leads never get finance's export.
    expect(lead.text).not.toContain('focus-2026-10.csv');
  });

  it('stops before a mail whose link cannot be made, and the rerun sends exactly the mails still owed', async () => {
    const artifacts = new InMemoryArtifacts({ baseUrl: STORE, now: new Date(NOW) });
    const { deps, mailer } = setup(artifacts, { attachMaxBytes: 1024, linkHours: 48 });
    const link = artifacts.link.bind(artifacts);
    let storeDown = true;
    artifacts.link = async (name, hours) => {
      if (storeDown && name.includes('team-platform')) throw new AppError('STORAGE_FAILED', 'the blob service did not answer');
      return link(name, hours);
    };
    await expect(closeMonth(deps, { month: '2026-10' })).rejects.toMatchObject({ code: 'STORAGE_FAILED' });
    expect(mailer.sent.flatMap((mail) => mail.to).sort()).toEqual([FINANCE, PAY_LEAD].sort());

    storeDown = false;
    await closeMonth(deps, { month: '2026-10' });
    expect(mailer.sent.flatMap((mail) => mail.to).sort()).toEqual([FINANCE, PAY_LEAD, 'plat@contoso.example'].sort());
  });

  it('attaches a workbook under the limit, and still links the FOCUS export rather than attaching it', async () => {
    const { deps, mailer } = setup(new InMemoryArtifacts({ baseUrl: STORE, now: new Date(NOW) }));
    await closeMonth(deps, { month: '2026-10' });

    const finance = mailTo(mailer.sent, FINANCE);
    expect(fileNames(finance)).toEqual(['chargeback-2026-10.xlsx']);
    expect(finance.text).not.toContain('too large to attach');
    // The default lifetime: 168 hours.
    expect(finance.text).toContain(`FOCUS cost export focus-2026-10.csv: ${STORE}/focus-2026-10.csv?se=2026-11-10T06:00:00.000Z`);
    expect(fileNames(mailTo(mailer.sent, PAY_LEAD))).toEqual(['chargeback-2026-10-team-payments.xlsx']);
    expect(mailTo(mailer.sent, PAY_LEAD).text).not.toContain('Download:');
  });

  it('attaches the workbook whatever its size when the store makes no links (a local folder), and links nothing', async () => {
    const { deps, mailer } = setup(new InMemoryArtifacts(), { attachMaxBytes: 1024, linkHours: 48 });
    await closeMonth(deps, { month: '2026-10' });

    const finance = mailTo(mailer.sent, FINANCE);
    expect(fileNames(finance)).toEqual(['chargeback-2026-10.xlsx']);
    expect(finance.text).not.toContain('Download:');
    expect(finance.html).not.toContain('<a href=');
  });

  it('links every workbook when the limit is 0', async () => {
    const { deps, mailer } = setup(new InMemoryArtifacts({ baseUrl: STORE, now: new Date(NOW) }), { attachMaxBytes: 0, linkHours: 1 });
    await closeMonth(deps, { month: '2026-10' });
    expect(mailer.sent.filter((mail) => mail.to.includes(FINANCE) || mail.to.includes(PAY_LEAD)).flatMap(fileNames)).toEqual([]);
  });
});

describe('the links of a close whose artifacts are in a Blob container (Azurite)', () => {
  let azurite: RunningAzurite;
  beforeAll(async () => {
    azurite = await startAzuriteBlob();
  });
  afterAll(async () => {
    await azurite?.stop();
  });

  it('download, with a plain fetch, the workbook and the FOCUS export the close saved', async () => {
    const store = BlobArtifactStore.fromConnectionString(azurite.connectionString, 'artifacts', { now: () => new Date() });
    const { deps, mailer } = setup(store, { attachMaxBytes: 1024, linkHours: 2 });
    await closeMonth(deps, { month: '2026-10' });

    const finance = mailTo(mailer.sent, FINANCE);
    expect(fileNames(finance)).toEqual([]);
    const links = [...finance.text.matchAll(/^ {2}(Workbook|FOCUS cost export) (\S+)[^:]*: (http\S+)$/gm)].map((match) => ({ filename: match[2]!, url: match[3]! }));
    expect(links.map((link) => link.filename)).toEqual(['chargeback-2026-10.xlsx', 'focus-2026-10.csv']);
    const container = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient('artifacts');
    for (const link of links) {
      const response = await fetch(link.url);
      expect(response.status).toBe(200);
      expect(Buffer.from(await response.arrayBuffer())).toEqual(await container.getBlobClient(link.filename).downloadToBuffer());
    }
    const focus = await (await fetch(links[1]!.url)).text();
    expect(focus.split('\n')[0]).toContain('BilledCost');
    expect(focus).toContain('Payments');
  });
});
