/**
 * One error middleware for the whole API (Strapi's habit): an HttpError carries its status, a zod
 * failure is a 400 naming the field, a ShoalError a 400; anything else is a 500 that is logged and
 * not shown. Every failure has the same JSON shape: { "error": "..." }.
 */
import type { Context, Next } from 'koa';
import { ZodError } from 'zod';
import { ShoalError } from '../shared/errors.js';
import { logger } from '../shared/log.js';

const log = logger('portal');

export class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

export const notFound = (what: string): HttpError => new HttpError(404, `${what} not found`);

export async function errorMiddleware(ctx: Context, next: Next): Promise<void> {
  try {
    await next();
  } catch (err) {
    if (err instanceof HttpError) {
      ctx.status = err.status;
      ctx.body = { error: err.message };
    } else if (err instanceof ZodError) {
      ctx.status = 400;
      ctx.body = { error: err.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ') };
    } else if (err instanceof ShoalError) {
      ctx.status = 400;
      ctx.body = { error: err.message };
    } else {
      log.error({ err, method: ctx.method, path: ctx.path }, 'request failed');
      ctx.status = 500;
      ctx.body = { error: 'internal error (see the portal log)' };
    }
  }
}
