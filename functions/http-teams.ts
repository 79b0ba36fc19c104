import { app } from '@azure/functions';
import { COST_API_ROUTES, costApiHandler, type CostApiHandler, type CostApiServicesGetter } from '../shared/adapters/http/cost-api.js';
import { inInvocationScope } from '../shared/adapters/functions-logger.js';
import { servicesFromEnvironment } from '../shared/composition-root.js';

/** Every team's total for a month: GET /api/teams?month=YYYY-MM (finance only). */
export function teamsHandler(getServices: CostApiServicesGetter = servicesFromEnvironment): CostApiHandler {
  return inInvocationScope(costApiHandler('all-teams', getServices));
}

// Anonymous at the Functions level: every request must carry an Entra bearer token, checked by the handler.
app.http('teams', {
  methods: ['GET'],
  authLevel: 'anonymous',
  route: COST_API_ROUTES['all-teams'],
  handler: teamsHandler(),
});
