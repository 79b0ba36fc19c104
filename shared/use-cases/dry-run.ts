import type { DeliveryLedger, DeliveryRecord, CloseRegistry } from '../ports/ledger.js';
import type { Leases } from '../ports/lease.js';
import type { ArtifactStore } from '../ports/artifacts.js';
import type { Mailer } from '../ports/mailer.js';
import type { RevisionedRollupStore } from '../ports/rollup-store.js';
import type { CloseMonthDeps } from './close-month.js';

/**
 * The close's dependencies for a dry run: every step runs and reads what is stored, but nothing is written to
 * storage, workbooks go to a preview folder and mails to a preview outbox. No lease is taken (a dry run
 * changes nothing another run could trip over), and what the run would record is kept in memory only, so it
 * behaves exactly as the real close would up to the point of storing.
 */
export function dryRunDeps(deps: CloseMonthDeps, preview: { artifacts: ArtifactStore; mailer: Mailer }): CloseMonthDeps {
  // Without monthUsage: building the month from the daily rollups would ingest missing days into them, and a
  // dry run stores nothing. It reads the usage source itself, which gives the same lines.
  // Without fanOut: a dry run's workbooks and mails are steps of the run, written to the preview; queued work
  // items would be real messages that real workers act on.
  const { monthUsage: _ingestsDays, fanOut: _queuesRealWork, ...readsTheSource } = deps;
  return {
    ...readsTheSource,
    rollups: readOnlyRollups(deps.rollups),
    closes: readOnlyCloses(deps.closes),
    deliveries: deliveriesInMemoryOver(deps.deliveries),
    leases: noLeases,
    artifacts: preview.artifacts,
    mailer: preview.mailer,
  };
}

function readOnlyRollups(store: RevisionedRollupStore): RevisionedRollupStore {
  const unchanged = async (_month: string, _revision: number, lines: readonly unknown[]) => ({ written: lines.length, deleted: 0 });
  return {
    replaceMonth: async (_month, lines) => ({ written: lines.length, deleted: 0 }),
    writeRevision: unchanged,
    publishRevision: async () => undefined,
    publishedRevision: (month) => store.publishedRevision(month),
    readRevision: (month, revision) => store.readRevision(month, revision),
    readTeamMonth: (month, teamId) => store.readTeamMonth(month, teamId),
    readMonth: (month) => store.readMonth(month),
    readMonthTotals: (month) => store.readMonthTotals(month),
  };
}

function readOnlyCloses(registry: CloseRegistry): CloseRegistry {
  return {
    get: (month) => registry.get(month),
    summary: (month, revision) => registry.summary(month, revision),
    draft: (month) => registry.draft(month),
    attempts: (month, limit) => registry.attempts(month, limit),
    put: async () => undefined,
    putDraft: async () => undefined,
    clearDraft: async () => undefined,
    recordAttempt: async () => undefined,
  };
}

function deliveriesInMemoryOver(ledger: DeliveryLedger): DeliveryLedger {
  const written = new Map<string, DeliveryRecord>();
  return {
    get: async (key) => written.get(key) ?? (await ledger.get(key)),
    put: async (record) => {
      written.set(record.key, record);
    },
    claim: async (record) => {
      written.set(record.key, record);
      return true;
    },
  };
}

const noLeases: Leases = {
  acquire: async (name, holder) => ({ acquired: true, lease: { name, holder, renew: async () => undefined, release: async () => undefined } }),
};
