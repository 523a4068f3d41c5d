/**
 * One error middleware for every HTTP API of Shoal's (portal, seeder; Strapi's habit): an HttpError
 * carries its status, a zod failure is a 400 naming the field, a ShoalError (the caller's mistake)
 * a 400 unless told otherwise; anything else is a 500 that is logged and not shown. Every failure
 * has the same JSON shape: { "error": "...", "field"?: "..." }, where `field` names the body's field
 * at fault when there is one, so a form can put the words beside it.
 */
import type Koa from 'koa';
import type { Context, Next } from 'koa';
import { ZodError } from 'zod';
import { ShoalError } from '../errors.js';
import { logger } from '../log.js';

const log = logger('http');

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** The body's field at fault ("mac", "hosts.3"), when the refusal is about one. */
    readonly field?: string,
  ) {
    super(message);
  }
}

function isClientHttpError(err: unknown): err is { status: number; message: string } {
  const e = err as { status?: unknown; expose?: unknown };
  return typeof e?.status === 'number' && e.status >= 400 && e.status < 500 && e.expose === true;
}

export const notFound = (what: string): HttpError => new HttpError(404, `${what} not found`);

/** `shoalErrorStatus` picks the status of a ShoalError (default 400). */
export const errorMiddleware =
  (shoalErrorStatus: (ctx: Context) => number = () => 400) =>
  async (ctx: Context, next: Next): Promise<void> => {
    try {
      await next();
    } catch (err) {
      if (err instanceof HttpError) {
        ctx.status = err.status;
        ctx.body = { error: err.message, ...(err.field && { field: err.field }) };
      } else if (err instanceof ZodError) {
        ctx.status = 400;
        const field = err.issues[0]?.path.join('.');
        ctx.body = { error: err.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '), ...(field && { field }) };
      } else if (err instanceof SyntaxError && /co-body|bourne|JSON/.test(err.stack ?? '')) {
        // The body parser's refusals of what is not a JSON object: not JSON, null, a string, __proto__.
        ctx.status = 400;
        ctx.body = { error: `the body is not a JSON object: ${err.message}` };
      } else if (isClientHttpError(err)) {
        // Koa's and the body parser's own refusals (body too large, bad JSON): their status, their words.
        ctx.status = err.status;
        ctx.body = { error: err.message };
      } else if (err instanceof ShoalError) {
        ctx.status = shoalErrorStatus(ctx);
        ctx.body = { error: err.message };
      } else {
        log.error({ err, method: ctx.method, path: ctx.path }, 'request failed');
        ctx.status = 500;
        ctx.body = { error: 'internal error (see the portal log)' };
      }
    }
  };

/** What a socket's error says when the other end went away mid-answer: nothing wrong here. */
const CLIENT_GONE = new Set(['EPIPE', 'ECONNRESET', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE']);

/**
 * Errors raised after the middleware (a streamed answer whose reader hung up) go to the log, not to
 * Koa's default printer, which put an indented `Error: write EPIPE` and its stack on stderr each
 * time a PC, a web seed reader or a browser closed its connection early.
 */
export function logAppErrors(app: Koa, who: string): void {
  app.on('error', (err: Error & { code?: string }, ctx?: Context) => {
    const where = { err: err.message, code: err.code, method: ctx?.method, path: ctx?.path };
    if (err.code && CLIENT_GONE.has(err.code)) log.debug(where, `${who}: the client went away mid-answer`);
    else log.warn(where, `${who}: answer failed`);
  });
}
