import { createHash, timingSafeEqual } from 'node:crypto';
import type { ApiTokenGrant } from '../config/env';

/**
 * Bearer-token checks of the HTTP API. Tokens are compared in constant time (over their sha256, so the length of a
 * token does not leak either) and every grant is compared, whichever matches. No token is ever logged or echoed.
 */

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** The token of an `Authorization: Bearer <token>` header, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header ?? '');
  return m?.[1];
}

/** Whether two secrets are equal, in time that depends on neither. */
export function secretsEqual(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

/**
 * The grant whose token is `token`, or undefined.
 *
 * @example
 * findGrant(config.api.tokens, bearerToken(req.headers.authorization)); // { token, pipelines: ['hello'] }
 */
export function findGrant(grants: readonly ApiTokenGrant[], token: string | undefined): ApiTokenGrant | undefined {
  if (token === undefined) return undefined;
  let found: ApiTokenGrant | undefined;
  // No early exit: the time taken does not say which grant (or whether any) matched.
  for (const g of grants) if (secretsEqual(g.token, token) && !found) found = g;
  return found;
}

/** Whether `grant` may start (and see the runs of) `pipeline`. */
export function grantAllows(grant: ApiTokenGrant, pipeline: string | undefined): boolean {
  if (grant.pipelines === '*') return true;
  return pipeline !== undefined && grant.pipelines.includes(pipeline);
}
