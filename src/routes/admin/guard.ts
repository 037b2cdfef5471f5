// The one gate in front of every admin surface: the admin API, the queue dashboard and /metrics.
import type { onRequestAsyncHookHandler } from 'fastify';
import { isAdminAuthorization } from '../../modules/admin/auth.ts';

export function requireAdmin(tokenHashes: readonly Buffer[]): onRequestAsyncHookHandler {
  return async (request, reply) => {
    if (isAdminAuthorization(request.headers.authorization, tokenHashes)) return;
    // The Basic challenge makes a browser ask for the token (as the password) on the dashboard. One
    // challenge per header line: browsers do not split several challenges out of one line.
    return reply
      .code(401)
      .header('www-authenticate', ['Bearer realm="paperboy-admin"', 'Basic realm="paperboy-admin"'])
      .send({
        error: 'Unauthorized',
        message: 'Send an admin token as "Authorization: Bearer <token>" (or as the password of HTTP Basic).',
      });
  };
}
