/**
 * One shape for every REST error, so that a page or a script reads them all alike:
 * `{ error: "a sentence for people", issues?: [{ path, message }] }`, `issues` when a request
 * failed its zod schema (one per field: `path` is the field's dotted path, `''` for the whole).
 */
import { zValidator } from '@hono/zod-validator';
import type { Context, ValidationTargets } from 'hono';
import type { HTTPException } from 'hono/http-exception';
import type { z } from 'zod';

/** One field a request got wrong. */
export interface RestIssue {
  /** Dotted path of the field (`updates.x`), `''` for the whole input. */
  path: string;
  message: string;
}

/** The body of every REST error response. */
export interface RestError {
  error: string;
  issues?: RestIssue[];
}

const WHAT: Record<keyof ValidationTargets, string> = {
  json: 'request body',
  form: 'form',
  query: 'query string',
  param: 'path parameter',
  header: 'headers',
  cookie: 'cookies',
};

/**
 * `zValidator` answering a request that fails `schema` with 400 and the REST error shape, its
 * sentence naming each field and what is wrong with it.
 * @example
 * app.post('/api/1/lists/:listId/items', validate('param', ListParams), validate('json', NewItem), handler)
 */
export function validate<Target extends keyof ValidationTargets, S extends z.ZodType>(target: Target, schema: S) {
  return zValidator(target, schema, function invalidRequest(result, c) {
    if (result.success) return;
    const issues = result.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
    const notJson = target === 'json' && !/^application\/([\w.-]+\+)?json\b/i.test(c.req.header('content-type') ?? '');
    const error = notJson
      ? 'expected a JSON body (content-type: application/json)'
      : `invalid ${WHAT[target]}: ${issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; ')}`;
    return c.json((notJson ? { error } : { error, issues }) satisfies RestError, 400);
  });
}

/**
 * The REST error response for an `HTTPException` (thrown by a handler or a Hono middleware):
 * the response it carries if it has one, else its message, or the status's name when it has none.
 */
export function httpErrorResponse(c: Context, err: HTTPException): Response {
  if (err.res) return err.getResponse();
  return c.json({ error: err.message || `request failed (HTTP ${err.status})` } satisfies RestError, err.status);
}
