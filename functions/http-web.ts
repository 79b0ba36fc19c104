import { app } from '@azure/functions';
import path from 'node:path';
import { webAppHandler, type WebAppHandler, type WebPageConfig } from '../shared/adapters/http/web-app.js';
import { webPageConfigFromEnvironment } from '../shared/composition-root.js';
import { PROJECT_ROOT } from '../shared/config/project-root.js';

/** The cost page (dist/web, built by `npm run build:web`): GET /api/web/{*path}, same origin as the cost API. */
export function webHandler(config: () => WebPageConfig = webPageConfigFromEnvironment, root = path.join(PROJECT_ROOT, 'dist', 'web')): WebAppHandler {
  return webAppHandler({ root, config, keepInMemory: true });
}

// Anonymous: the page is public static files; every figure it shows comes from the API, which checks the token.
app.http('web', {
  methods: ['GET', 'HEAD'],
  authLevel: 'anonymous',
  route: 'web/{*path}',
  handler: webHandler(),
});
