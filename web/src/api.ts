/**
 * The cost API as the page uses it. Only the fields the page shows are typed; anything else the API adds
 * (cost centers, billed figures, new sections) passes through untouched.
 */
export interface Tokens {
  input: number;
  output: number;
  cacheRead: number;
  cacheWrite5m: number;
  cacheWrite1h: number;
}

export interface Figures {
  amount: string;
  tokens: Tokens;
  totalTokens: number;
  requests: number;
  unpricedTokens: number;
}

export type Source = { status: 'closed'; revision: number; closedAt: string } | { status: 'open'; asOf: string | null };

export interface Budget {
  amount: string;
  currency: string;
  used: string;
  remaining: string;
  usedPercent: string;
  actualThresholds?: number[];
  forecastThresholds?: number[];
}

export interface Forecast {
  amount: string;
  budgetPercent: string | null;
  basis: string;
  today: string | null;
  workingDayRate: string | null;
  weekendDayRate: string | null;
  remainingWorkingDays: number | null;
  remainingWeekendDays: number | null;
}

export interface UserFigures extends Figures {
  userId: string;
  userName: string;
  upn: string;
  allocation: string;
}

export interface TeamCosts {
  month: string;
  team: { id: string; name: string; costCenter?: string | null };
  currency: string | null;
  access: 'finance' | 'lead' | 'member' | string;
  view: 'full' | 'own-lines-and-team-total' | string;
  source: Source;
  total: Figures & { exactAmount: string; users: number | null };
  budget: Budget | null;
  forecast: Forecast | null;
  breakdown: {
    scope: 'team' | 'caller';
    total: Figures;
    byModel: (Figures & { model: string; pricedModel: string | null })[];
    byTier: (Figures & { tier: string })[];
    byUser: UserFigures[];
    byDay: (Figures & { day: string })[];
    lines: (Figures & { model: string; tier: string })[] | null;
  };
  /** Present once a month is trued up against the bill (tolerated, not required). */
  billed?: { amount: string; listAmount?: string; currency?: string } | null;
  asOf: string;
  [extra: string]: unknown;
}

export interface TeamRow extends Figures {
  teamId: string;
  teamName: string;
  exactAmount: string;
  users: number | null;
  budget: Budget | null;
  forecast: Forecast | null;
  costCenter?: string | null;
  [extra: string]: unknown;
}

export interface AllTeams {
  month: string;
  currency: string | null;
  source: Source;
  total: Figures & { users: number | null };
  teams: TeamRow[];
  asOf: string;
}

export interface MyCosts {
  month: string;
  user: { id: string; name: string; upn: string };
  currency: string | null;
  source: Source;
  total: Figures;
  byTeam: (Figures & { teamId: string; teamName: string; allocation: string })[];
  byModel: (Figures & { model: string })[];
  byTier: (Figures & { tier: string })[];
  byDay: (Figures & { day: string })[];
  asOf: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export const UNALLOCATED_TEAM = '_unallocated';

/** Calls /api/... relative to the page (served at /api/web/), with the signed-in person's token. */
export class CostApi {
  constructor(private readonly token: () => Promise<string>) {}

  teams(month: string): Promise<AllTeams> {
    return this.get(`../teams?month=${month}`);
  }

  teamCosts(teamId: string, month: string): Promise<TeamCosts> {
    return this.get(`../teams/${encodeURIComponent(teamId)}/costs?month=${month}`);
  }

  myCosts(month: string): Promise<MyCosts> {
    return this.get(`../me/costs?month=${month}`);
  }

  private async get<T>(path: string): Promise<T> {
    const response = await fetch(new URL(path, document.baseURI), { headers: { authorization: `Bearer ${await this.token()}`, accept: 'application/json' } });
    if (!response.ok) {
      let code = 'HTTP_' + response.status;
      let message = response.statusText;
      try {
        const body = (await response.json()) as { error?: { code?: string; message?: string } };
        code = body.error?.code ?? code;
        message = body.error?.message ?? message;
      } catch {
        // not JSON: keep the status line
      }
      throw new ApiError(response.status, code, message);
    }
    return (await response.json()) as T;
  }
}
