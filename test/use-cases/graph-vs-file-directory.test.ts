import { HtmlReportMails } from '../../shared/adapters/reports/report-mails.js';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CachedDirectory, TableDirectoryCacheStore } from '../../shared/adapters/azure/cached-directory.js';
import { graphClientWithAuthProvider } from '../../shared/adapters/azure/graph-client.js';
import { GraphDirectory } from '../../shared/adapters/azure/graph-directory.js';
import { tableClientFor } from '../../shared/adapters/azure/table-client.js';
import { FileDirectory, parseDirectoryDocument, type DirectoryDocument } from '../../shared/adapters/local/file-directory.js';
import { totalTokens } from '../../shared/domain/tokens.js';
import type { UsageRow } from '../../shared/domain/usage.js';
import type { Directory } from '../../shared/ports/directory.js';
import { silentLogger } from '../../shared/ports/runtime.js';
import { closeMonth, type CloseMonthResult } from '../../shared/use-cases/close-month.js';
import { testPriceBook, tokens, usageRow } from '../support/domain-fixtures.js';
import { fakeAuthProvider, fakeObjectId, graphStub, syntheticTenant, type FakeTenant, type FakeUser } from '../support/graph-stub.js';
import {
  fixedClock,
  InMemoryArtifacts,
  InMemoryCloseRegistry,
  InMemoryDeliveryLedger,
  InMemoryRollupStore,
  RecordingMailer,
  StaticPriceBooks,
  StaticUsageSource,
  TeamTotalsRenderer, InMemoryLeases } from '../support/in-memory.js';
import { DEFAULT_CLOSE_CONTROL_LIMITS } from '../../shared/domain/close-controls.js';
import { stubRemoteHttp } from '../support/msw.js';
import { azuriteConnectionString, uniqueTableName } from '../support/tables.js';

const server = stubRemoteHttp();

const PREFIX = 'team-';
const GUEST = 3;
const DISABLED = 5;

/** One organization, told twice: as an Entra tenant for the Graph stub and as a directory file. */
function organization(): { tenant: FakeTenant; document: DirectoryDocument; userIds: readonly string[] } {
  const synthetic = syntheticTenant({ users: 60, teams: 4, leftoverShare: 0.2, prefix: PREFIX });
  const users = synthetic.tenant.users.map((user): FakeUser => {
    if (user.id === fakeObjectId(1, GUEST)) return { ...user, userType: 'Guest', userPrincipalName: 'guest_fabrikam.example#EXT#@contoso.example' };
    if (user.id === fakeObjectId(1, DISABLED)) return { ...user, accountEnabled: false };
    return user;
  });
  const tenant: FakeTenant = { ...synthetic.tenant, users };
  const byId = new Map(users.map((user) => [user.id, user]));

  const teamGroups = tenant.groups.filter((group) => group.displayName.startsWith(PREFIX));
  const teamOf = (group: (typeof teamGroups)[number]) => group.displayName.slice(PREFIX.length);
  const document: DirectoryDocument = {
    teams: teamGroups.map((group) => ({
      id: teamOf(group),
      name: group.displayName,
      leads: group.owners.map((id) => byId.get(id)!.mail!).sort(),
    })),
    users: [
      ...teamGroups.flatMap((group) =>
        group.members.map((id) => {
          const user = byId.get(id)!;
          const status = user.accountEnabled === false ? ('former' as const) : user.userType === 'Guest' ? ('guest' as const) : ('member' as const);
          return { userId: id, teamId: teamOf(group), displayName: user.displayName, upn: user.userPrincipalName, status };
        }),
      ),
      // Deleted users stay in the file for audit, as former users; people in no team group are simply absent.
      ...(tenant.deletedUsers ?? []).map((user) => ({ userId: user.id, teamId: teamOf(teamGroups[0]!), displayName: user.displayName, upn: user.userPrincipalName, status: 'former' as const })),
    ],
  };
  return { tenant, document, userIds: synthetic.userIds };
}

/** A month of usage: every user on two models, plus rows no directory can place. */
function usageFor(userIds: readonly string[]): UsageRow[] {
  const rows = userIds.flatMap((userId, n) => [
    usageRow({ day: `2026-10-${String(1 + (n % 28)).padStart(2, '0')}`, userId, model: 'claude-sonnet-4-6', tokens: tokens({ input: 10_000 * (n + 1), output: 1_000 * (n + 1), cacheRead: 500 * n }), requests: n + 1 }),
    usageRow({ day: `2026-10-${String(1 + ((n * 7) % 31)).padStart(2, '0')}`, userId, model: 'claude-haiku-4-5', tokens: tokens({ input: 3_333 * (n + 2), output: 77 * n }), requests: 2 }),
  ]);
  rows.push(usageRow({ day: '2026-10-09', userId: '', tokens: tokens({ input: 12_345 }) }));
  rows.push(usageRow({ day: '2026-10-10', userId: 'not-an-oid', tokens: tokens({ input: 54_321 }) }));
  rows.push(usageRow({ day: '2026-10-11', userId: fakeObjectId(9, 1), tokens: tokens({ input: 99_999 }) }));
  return rows;
}

async function closeWith(directory: Directory, rows: UsageRow[]): Promise<CloseMonthResult> {
  return closeMonth(
    {
      usageSource: new StaticUsageSource(rows),
      directory,
      priceBooks: new StaticPriceBooks(testPriceBook()),
      rollups: new InMemoryRollupStore(),
      closes: new InMemoryCloseRegistry(),
      deliveries: new InMemoryDeliveryLedger(),
      leases: new InMemoryLeases(),
      renderer: new TeamTotalsRenderer(),
      reportMails: new HtmlReportMails(),
      costExport: { focusCsv: () => Buffer.from(''), focusCsvRowChunks: () => [], focusCsvHeader: () => Buffer.from(''), rejectsCsv: () => Buffer.from('') },
      artifacts: new InMemoryArtifacts(),
      mailer: new RecordingMailer(),
      clock: fixedClock('2026-11-03T06:00:00Z'),
      logger: silentLogger,
      settings: { timeZone: 'UTC', financeRecipients: ['finance@contoso.example'], mailFrom: 'chargeback@contoso.example', operatorRecipients: ['ops@contoso.example'], graceDays: 2, controls: DEFAULT_CLOSE_CONTROL_LIMITS },
    },
    { month: '2026-10' },
  );
}

function teamTotals(result: CloseMonthResult) {
  return result.report.teams.map((team) => ({ teamId: team.teamId, teamName: team.teamName, leads: team.leads, users: team.users, amount: team.amount, tokens: team.tokens }));
}

async function fileDirectory(document: DirectoryDocument): Promise<FileDirectory> {
  // The document must be a valid directory file in its own right.
  parseDirectoryDocument(document, 'organization');
  const file = path.join(await mkdtemp(path.join(tmpdir(), 'graph-vs-file-')), 'directory.json');
  await writeFile(file, JSON.stringify(document));
  return new FileDirectory(file);
}

function graphDirectory(tenant: FakeTenant) {
  const stub = graphStub(tenant, { maxPageSize: 7 });
  server.use(...stub.handlers);
  const directory = new GraphDirectory({ client: graphClientWithAuthProvider(fakeAuthProvider), strategy: { kind: 'group-prefix', prefix: PREFIX }, sleep: async () => {} });
  return { stub, directory };
}

describe('closing a month with the Graph directory or the directory file of the same organization', () => {
  it('charges every team the same amounts and tokens', async () => {
    const { tenant, document, userIds } = organization();
    const rows = usageFor(userIds);
    const { stub, directory } = graphDirectory(tenant);

    const byGraph = await closeWith(directory, rows);
    const byFile = await closeWith(await fileDirectory(document), rows);

    expect(stub.counts.http).toBeGreaterThan(0);
    expect(teamTotals(byGraph)).toEqual(teamTotals(byFile));
    expect(byGraph.report.grandTotal).toBe(byFile.report.grandTotal);
    // The comparison is not vacuous: four charged teams and an unallocated line holding real usage.
    const ids = byGraph.report.teams.map((team) => team.teamId);
    expect(ids.filter((id) => id !== '_unallocated').sort()).toEqual(['00', '01', '02', '03']);
    const unallocated = byGraph.report.teams.find((team) => team.teamId === '_unallocated')!;
    expect(unallocated.amount).toBeGreaterThan(0n);
    expect(byGraph.report.teams.find((team) => team.teamId === '00')!.leads).toEqual(['lead0-0@contoso.example', 'lead0-1@contoso.example']);
    // The guest is charged to their team, the disabled account is not.
    const users = new Map(byGraph.report.users.map((user) => [user.userId, user.teamId]));
    expect(users.get(fakeObjectId(1, GUEST))).toBe('03');
    expect(users.get(fakeObjectId(1, DISABLED))).toBe('_unallocated');
  });

  it('gives the same totals through the Table Storage cache, and the second close asks Graph nothing', async () => {
    const { tenant, document, userIds } = organization();
    const rows = usageFor(userIds);
    const { stub, directory: graph } = graphDirectory(tenant);
    const store = await TableDirectoryCacheStore.create(tableClientFor(azuriteConnectionString(), uniqueTableName('graphvsfile')));
    const cached = new CachedDirectory({ inner: graph, store, clock: fixedClock('2026-11-03T06:00:00Z'), ttlHours: 24 });
    const byFile = teamTotals(await closeWith(await fileDirectory(document), rows));

    const first = await closeWith(cached, rows);
    const callsAfterFirst = stub.counts.http;
    const second = await closeWith(cached, rows);

    expect(teamTotals(first)).toEqual(byFile);
    expect(teamTotals(second)).toEqual(byFile);
    expect(callsAfterFirst).toBeGreaterThan(0);
    expect(stub.counts.http).toBe(callsAfterFirst);
  });

  it("charges a service principal's usage (an app-only token's oid) to its owner's team in a Graph-backed close", async () => {
    const { tenant, userIds } = organization();
    const ownerGroup = tenant.groups.find((group) => group.displayName === `${PREFIX}01`)!;
    const ciPipeline = fakeObjectId(7, 1);
    const withPrincipal: FakeTenant = {
      ...tenant,
      servicePrincipals: [{ id: ciPipeline, appId: '11111111-2222-4333-8444-555555555555', displayName: 'release-pipeline', owners: [ownerGroup.members[0]!] }],
    };
    const people = usageFor(userIds);
    const automation = usageRow({ day: '2026-10-15', userId: ciPipeline, model: 'claude-sonnet-4-6', tokens: tokens({ input: 777_000, output: 66_000 }), requests: 40 });

    const { directory } = graphDirectory(withPrincipal);
    const without = await closeWith(directory, people);
    const withAutomation = await closeWith(directory, [...people, automation]);

    const team = (result: CloseMonthResult, id: string) => result.report.teams.find((t) => t.teamId === id)!;
    expect(withAutomation.report.users.find((user) => user.userId === ciPipeline)?.teamId).toBe('01');
    expect(totalTokens(team(withAutomation, '01').tokens) - totalTokens(team(without, '01').tokens)).toBe(777_000 + 66_000);
    // Nothing of it went to Unallocated (as a "former user" would have).
    expect(team(withAutomation, '_unallocated').tokens).toEqual(team(without, '_unallocated').tokens);
  });
});
