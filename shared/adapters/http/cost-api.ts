/**
 * The cost API's HTTP edge, shared by the Azure Functions triggers and the local `serve` command: request ->
 * verified caller + use-case input, result -> JSON or CSV, AppError -> status. Nothing here decides who may see
 * what; that is the use case's job (shared/domain/access.ts).
 *
 * Errors are `{ "error": { "code", "message" } }` and never carry a stack, a token or a storage detail: the
 * full story goes to the invocation log instead, under the invocation id the response returns in
 * `x-request-id`.
 */
import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { AppError, describeError, isAppError } from '../../domain/errors.js';
import type { Logger } from '../../ports/runtime.js';
import type { CostLookup } from '../../use-cases/lookup-costs.js';
import type { AccessTokenVerifier } from '../azure/entra-token-verifier.js';
import { invocationLogger } from '../functions-logger.js';
import { RejectionLog } from './rejection-log.js';
import { allTeamsCsv, allTeamsJson, csvView, myCostsCsv, myCostsJson, teamCostsCsvText, teamCostsJsonText } from './cost-responses.js';

export type CostEndpoint = 'team-costs' | 'all-teams' | 'my-costs';

/** What the handlers need from the composition root (Services satisfies it). */
export interface CostApiServices {
  readonly costLookup: CostLookup;
  readonly accessTokens: AccessTokenVerifier;
}

export type CostApiServicesGetter = (logger: Logger) => Promise<CostApiServices>;

export type CostApiHandler = (request: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit>;

/** Route templates as the Functions host writes them (under its `api/` prefix). */
export const COST_API_ROUTES: Readonly<Record<CostEndpoint, string>> = {
  'team-costs': 'teams/{team}/costs',
  'all-teams': 'teams',
  'my-costs': 'me/costs',
};

export type ResponseFormat = 'json' | 'csv';

const REALM = 'llm-chargeback';
const COMMON_HEADERS = {
  // Every answer depends on who asks: no shared cache may keep it.
  'cache-control': 'private, no-store',
  vary: 'Authorization, Accept',
  'x-content-type-options': 'nosniff',
};

/** One per process: rejected requests of every endpoint are counted together, per reason. */
const processRejections = new RejectionLog();

export function costApiHandler(endpoint: CostEndpoint, getServices: CostApiServicesGetter, rejections: RejectionLog = processRejections): CostApiHandler {
  return async (request, context) => {
    const logger = invocationLogger(context);
    const requestId = context.invocationId;
    try {
      const services = await getServices(logger);
      const caller = await services.accessTokens.verify(request.headers.get('authorization') ?? undefined);
      const format = responseFormat(request);
      const month = request.query.get('month') ?? undefined;
      const lookup = services.costLookup;
      switch (endpoint) {
        case 'team-costs': {
          const view = format === 'csv' ? csvView('team-costs', request.query.get('view')) : undefined;
          const result = await lookup.teamCosts(caller, { teamId: request.params['team'] ?? '', month });
          return view !== undefined
            ? csvResponse(teamCostsCsvText(result, view), `team-${result.team.id}-${result.month}-${view}.csv`, requestId)
            : jsonTextResponse(200, teamCostsJsonText(result), requestId);
        }
        case 'all-teams': {
          const view = format === 'csv' ? csvView('all-teams', request.query.get('view')) : undefined;
          const result = await lookup.allTeams(caller, { month });
          return view !== undefined ? csvResponse(allTeamsCsv(result, view), `teams-${result.month}-${view}.csv`, requestId) : jsonResponse(200, allTeamsJson(result), requestId);
        }
        case 'my-costs': {
          const view = format === 'csv' ? csvView('my-costs', request.query.get('view')) : undefined;
          const result = await lookup.myCosts(caller, { month });
          return view !== undefined ? csvResponse(myCostsCsv(result, view), `my-costs-${result.month}-${view}.csv`, requestId) : jsonResponse(200, myCostsJson(result), requestId);
        }
      }
    } catch (error) {
      return errorResponse(error, { endpoint, logger, requestId, rejections });
    }
  };
}

/** `format=csv|json` wins; otherwise CSV when the Accept header prefers text/csv over JSON. */
export function responseFormat(request: Pick<HttpRequest, 'query' | 'headers'>): ResponseFormat {
  const format = request.query.get('format');
  if (format !== null) {
    if (format === 'csv' || format === 'json') return format;
    throw new AppError('BAD_REQUEST', 'format must be json or csv');
  }
  const accept = request.headers.get('accept');
  if (accept === null) return 'json';
  const quality = new Map<string, number>();
  for (const range of accept.split(',')) {
    const [type = '', ...params] = range.split(';').map((part) => part.trim().toLowerCase());
    const q = params.find((param) => param.startsWith('q='));
    const value = q === undefined ? 1 : Number(q.slice(2));
    quality.set(type, Math.max(quality.get(type) ?? 0, Number.isFinite(value) ? value : 0));
  }
  const csv = quality.get('text/csv') ?? 0;
  return csv > 0 && csv > (quality.get('application/json') ?? 0) ? 'csv' : 'json';
}

function jsonResponse(status: number, body: unknown, requestId: string, headers: Record<string, string> = {}): HttpResponseInit {
  return jsonTextResponse(status, JSON.stringify(body), requestId, headers);
}

function jsonTextResponse(status: number, body: string, requestId: string, headers: Record<string, string> = {}): HttpResponseInit {
  return {
    status,
    headers: { ...COMMON_HEADERS, 'content-type': 'application/json; charset=utf-8', 'x-request-id': requestId, ...headers },
    body,
  };
}

function csvResponse(body: string, fileName: string, requestId: string): HttpResponseInit {
  return {
    status: 200,
    headers: {
      ...COMMON_HEADERS,
      'content-type': 'text/csv; charset=utf-8',
      'content-disposition': `attachment; filename="${fileName.replace(/[^A-Za-z0-9._-]/g, '_')}"`,
      'x-request-id': requestId,
    },
    body,
  };
}

interface ErrorShape {
  readonly status: number;
  readonly code: string;
  readonly message: string;
  readonly headers?: Record<string, string>;
}

const GENERIC_INTERNAL: ErrorShape = { status: 500, code: 'INTERNAL', message: 'The request failed; it was logged under the x-request-id of this response' };

/** Maps any failure to a response that says what the caller can do about it and nothing more. */
export function errorShape(error: unknown): ErrorShape {
  if (!isAppError(error)) return GENERIC_INTERNAL;
  switch (error.code) {
    case 'UNAUTHENTICATED': {
      // RFC 6750: no error attribute when no credentials were sent at all.
      const missing = error.details[0] === 'missing_token';
      return {
        status: 401,
        code: 'UNAUTHENTICATED',
        message: 'The access token is missing or invalid',
        headers: { 'www-authenticate': missing ? `Bearer realm="${REALM}"` : `Bearer realm="${REALM}", error="invalid_token"` },
      };
    }
    case 'FORBIDDEN':
      return { status: 403, code: 'FORBIDDEN', message: 'You are not allowed to see these costs' };
    // The use case words its BAD_REQUEST messages as rules, without echoing what was sent.
    case 'BAD_REQUEST':
      return { status: 400, code: 'BAD_REQUEST', message: error.message };
    case 'INVALID_ARGUMENT':
      return { status: 400, code: 'BAD_REQUEST', message: 'The request is not valid' };
    case 'NOT_FOUND':
      return { status: 404, code: 'NOT_FOUND', message: error.message };
    case 'THROTTLED':
      return { status: 503, code: 'UNAVAILABLE', message: 'The service is busy; try again shortly', headers: { 'retry-after': '5' } };
    default:
      if (error.retryable) return { status: 503, code: 'UNAVAILABLE', message: 'The service is temporarily unavailable; try again shortly', headers: { 'retry-after': '5' } };
      return GENERIC_INTERNAL;
  }
}

function errorResponse(error: unknown, where: { endpoint: CostEndpoint; logger: Logger; requestId: string; rejections: RejectionLog }): HttpResponseInit {
  const shape = errorShape(error);
  const reason = isAppError(error) && error.details.length > 0 && error.code === 'UNAUTHENTICATED' ? ` (${error.details[0]})` : '';
  if (shape.status >= 500) {
    const stack = error instanceof Error && !isAppError(error) ? `\n${error.stack ?? ''}` : '';
    where.logger.error(`cost API ${where.endpoint} failed: ${describeError(error)}${stack}`, { requestId: where.requestId, status: shape.status });
  } else {
    where.rejections.record(where.logger, `${where.endpoint} ${shape.status} ${shape.code}${reason}`, `cost API ${where.endpoint} answered ${shape.status} ${shape.code}${reason}`, {
      requestId: where.requestId,
      status: shape.status,
    });
  }
  return jsonResponse(shape.status, { error: { code: shape.code, message: shape.message } }, where.requestId, shape.headers);
}
