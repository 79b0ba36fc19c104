import { app } from '@azure/functions';
import { COST_API_ROUTES, costApiHandler, type CostApiHandler, type CostApiServicesGetter } from '../shared/adapters/http/cost-api.js';
import { inInvocationScope } from '../shared/adapters/functions-logger.js';
import { servicesFromEnvironment } from '../shared/composition-root.js';

/** The caller's own usage for a month: GET /api/me/costs?month=YYYY-MM. */
export function myCostsHandler(getServices: CostApiServicesGetter = servicesFromEnvironment): CostApiHandler {
  return inInvocationScope(costApiHandler('my-costs', getServices));
}

// Anonymous at the Functions level: every request must carry an Entra bearer token, checked by the handler.
app.http('myCosts', {
  methods: ['GET'],
  authLevel: 'anonymous',
  route: COST_API_ROUTES['my-costs'],
  handler: myCostsHandler(),
});
