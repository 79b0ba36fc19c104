import { app } from '@azure/functions';
import { COST_API_ROUTES, costApiHandler, type CostApiHandler, type CostApiServicesGetter } from '../shared/adapters/http/cost-api.js';
import { inInvocationScope } from '../shared/adapters/functions-logger.js';
import { servicesFromEnvironment } from '../shared/composition-root.js';

/** One team's costs for a month: GET /api/teams/{team}/costs?month=YYYY-MM (finance, the team's leads; members see the total and their own lines). */
export function teamCostsHandler(getServices: CostApiServicesGetter = servicesFromEnvironment): CostApiHandler {
  return inInvocationScope(costApiHandler('team-costs', getServices));
}

// Anonymous at the Functions level: every request must carry an Entra bearer token, checked by the handler.
app.http('teamCosts', {
  methods: ['GET'],
  authLevel: 'anonymous',
  route: COST_API_ROUTES['team-costs'],
  handler: teamCostsHandler(),
});
