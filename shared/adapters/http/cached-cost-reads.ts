/**
 * The cost API's one cache: a short-TTL decorator over the lookup's reads (CostReads), at the HTTP edge.
 * Rollups change at most a few times a day (the daily ingest, the monthly close), so serving a month or a
 * team-month for COST_CACHE_TTL_SECONDS saves a Table Storage query per request while keeping figures at most
 * a TTL behind the store. A closed month is read whole once per TTL and every team's view is sliced from it
 * (ClosedMonth keeps its slices), so 50 teams cost one read, not 50.
 *
 * Concurrent misses share one load, failures are not cached, and each cache keeps a bounded number of keys
 * (least recently used go first), so probing ids cannot grow the process. Only callers the directory allowed
 * ever reach a cost read, so probing cannot evict cached views either (lookup-costs.ts).
 */
import type { BudgetPlan } from '../../domain/budgets.js';
import type { MonthView, TeamMonthView } from '../../domain/cost-views.js';
import type { DirectoryResolution, Team } from '../../domain/directory.js';
import { AppError } from '../../domain/errors.js';
import type { MonthClose } from '../../ports/ledger.js';
import type { Clock } from '../../ports/runtime.js';
import { StoredCostReads, type ClosedMonth, type CostReads, type StoredCostReadsDeps } from '../../use-cases/cost-reads.js';
import { CostLookup } from '../../use-cases/lookup-costs.js';
import type { AccessRoles } from '../../domain/access.js';
import { TtlCache } from './ttl-cache.js';

// A team-month of ~200 users holds ~1.5 MB; 128 keeps a 50-team org's current and previous month.
const VIEW_CACHE_MAX_ENTRIES = 128;
// A closed month holds every line of the month: a few, for the months people look at.
const MONTH_CACHE_MAX_ENTRIES = 4;
const DIRECTORY_CACHE_MAX_ENTRIES = 4096;

export class CachedCostReads implements CostReads {
  private readonly closes: TtlCache<MonthClose | undefined>;
  private readonly closedMonths: TtlCache<ClosedMonth | null>;
  private readonly dailyTeamViews: TtlCache<TeamMonthView>;
  private readonly dailyMonthViews: TtlCache<MonthView>;
  private readonly resolutions: TtlCache<DirectoryResolution>;
  private readonly teamRecords: TtlCache<Team | null>;
  private readonly budgetPlans: TtlCache<BudgetPlan | undefined>;

  constructor(
    private readonly inner: CostReads,
    options: { readonly ttlSeconds: number; readonly clock: Clock },
  ) {
    const ttlSeconds = options.ttlSeconds;
    if (!Number.isFinite(ttlSeconds) || ttlSeconds < 0) throw new AppError('CONFIG_INVALID', `the cost cache TTL must be 0 or more seconds, got ${ttlSeconds}`);
    const cache = (maxEntries: number) => ({ ttlMs: ttlSeconds * 1000, maxEntries, now: () => options.clock.now().getTime() });
    this.closes = new TtlCache(cache(VIEW_CACHE_MAX_ENTRIES));
    this.closedMonths = new TtlCache(cache(MONTH_CACHE_MAX_ENTRIES));
    this.dailyTeamViews = new TtlCache(cache(VIEW_CACHE_MAX_ENTRIES));
    this.dailyMonthViews = new TtlCache(cache(VIEW_CACHE_MAX_ENTRIES));
    this.resolutions = new TtlCache(cache(DIRECTORY_CACHE_MAX_ENTRIES));
    this.teamRecords = new TtlCache(cache(DIRECTORY_CACHE_MAX_ENTRIES));
    this.budgetPlans = new TtlCache(cache(1));
  }

  closeOf(month: string): Promise<MonthClose | undefined> {
    return this.closes.getOrLoad(month, () => this.inner.closeOf(month));
  }

  closedMonth(month: string, close: MonthClose): Promise<ClosedMonth | null> {
    return this.closedMonths.getOrLoad(`${month}|${close.revision}`, () => this.inner.closedMonth(month, close));
  }

  dailyTeamView(month: string, teamId: string, close: MonthClose | undefined): Promise<TeamMonthView> {
    return this.dailyTeamViews.getOrLoad(`${month}|${teamId}|${close?.revision ?? 'open'}`, () => this.inner.dailyTeamView(month, teamId, close));
  }

  dailyMonthView(month: string, close: MonthClose | undefined): Promise<MonthView> {
    return this.dailyMonthViews.getOrLoad(`${month}|${close?.revision ?? 'open'}`, () => this.inner.dailyMonthView(month, close));
  }

  resolve(userIds: readonly string[]): Promise<DirectoryResolution> {
    const ids = [...new Set(userIds)].sort();
    return this.resolutions.getOrLoad(ids.join(','), () => this.inner.resolve(ids));
  }

  async teamRecord(teamId: string): Promise<Team | undefined> {
    return (await this.teamRecords.getOrLoad(teamId, async () => (await this.inner.teamRecord(teamId)) ?? null)) ?? undefined;
  }

  budgetPlan(): Promise<BudgetPlan | undefined> {
    return this.budgetPlans.getOrLoad('plan', () => this.inner.budgetPlan());
  }

  /** Forgets every cached read, e.g. right after this process wrote new rollups. */
  clear(): void {
    for (const cache of [this.closes, this.closedMonths, this.dailyTeamViews, this.dailyMonthViews, this.resolutions, this.teamRecords, this.budgetPlans]) cache.clear();
  }
}

export interface CostLookupDeps extends StoredCostReadsDeps {
  readonly settings: StoredCostReadsDeps['settings'] & {
    readonly roles: AccessRoles;
    /** 0 disables the cache. */
    readonly cacheTtlSeconds: number;
  };
}

/** The cost lookup as the API runs it: stored reads with deadlines, behind the cache. */
export function cachedCostLookup(deps: CostLookupDeps): CostLookup {
  const reads = new CachedCostReads(new StoredCostReads(deps), { ttlSeconds: deps.settings.cacheTtlSeconds, clock: deps.clock });
  return new CostLookup({ reads, clock: deps.clock, settings: { timeZone: deps.settings.timeZone, roles: deps.settings.roles } });
}
