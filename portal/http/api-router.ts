/**
 * Every portal route is declared here with what it accepts, what it answers and who may call it,
 * and the OpenAPI document is made from those declarations: the document cannot drift from the
 * routes, and no route can forget its role check, its body's schema or its answer's.
 *
 * The answer's schema (shared/http/portal-contract.ts) is checked, not only documented: with
 * SHOAL_CHECK_RESPONSES=1 (the root tests set it) an answer that does not match is a 500 naming
 * the route and the field, so a test that calls the route fails; without it the mismatch is
 * logged once per route and the answer goes out as it is (a lab keeps working on a portal whose
 * answer grew a field the contract has not caught up with).
 */
import type Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { HttpError } from '../../shared/http/errors.js';
import { logger } from '../../shared/log.js';
import { requireAccess, type Access, type Caller } from '../access/auth.js';
import type { Db } from '../db/open.js';

type Method = 'get' | 'post' | 'patch' | 'put' | 'delete';

const log = logger('api');

/**
 * What a route answers on success: the zod schema of its JSON; `empty` (204, no body); `raw`, a
 * body that is not JSON, of the media type `responseType` names (CSV, iPXE script, a file); or
 * `stream`, an event stream the handler writes on the socket itself.
 */
export type ResponseSpec = z.ZodType | 'empty' | 'raw' | 'stream';

export interface RouteSpec<B extends z.ZodType, Q extends z.ZodType, R extends ResponseSpec = ResponseSpec> {
  method: Method;
  /** Koa style: /api/v1/hosts/:mac */
  path: string;
  summary: string;
  tag: string;
  access: Access;
  body?: B;
  /** Set for bodies that are not JSON (CSV import). */
  bodyType?: string;
  query?: Q;
  /** The success status (200 unless said). */
  status?: number;
  /** What the success answer is (see ResponseSpec). */
  response: R;
  /** Its media type, for a `raw` or `stream` answer. */
  responseType?: string;
}

export interface RouteInput<B, Q> {
  body: B;
  query: Q;
  params: Record<string, string>;
  /** The logged-in user for read/images/admin routes. */
  caller: Caller;
}

/**
 * A JSON route's handler returns what its schema takes (as input: a field with a default may be
 * left out), so the compiler holds every handler to the contract; the check at run time is for
 * what the types cannot see (a JSON column's contents). The others answer through ctx or not at all.
 */
type Answer<R extends ResponseSpec> = R extends z.ZodType ? z.input<R> : void;
type Handler<B, Q, R extends ResponseSpec> = (ctx: Context, input: RouteInput<B, Q>) => Promise<Answer<R>>;

/** Whether answers are checked strictly (a mismatch is a 500), read when a router is made. */
export const checkResponsesStrictly = (env: NodeJS.ProcessEnv = process.env): boolean => env.SHOAL_CHECK_RESPONSES === '1';

/** The first few problems of a failed parse, each with the field's path. */
const describeIssues = (err: z.ZodError): string =>
  err.issues
    .slice(0, 5)
    .map((i) => `${i.path.join('.') || '(the answer)'}: ${i.message}`)
    .join('; ');

const SECURITY: Record<Access, Array<Record<string, string[]>>> = {
  public: [],
  read: [{ session: [] }, { token: [] }],
  images: [{ session: [] }, { token: [] }],
  admin: [{ session: [] }, { token: [] }],
  node: [{ labSecretKey: [] }],
  host: [{ taskKey: [] }],
};

const ROLE_TEXT: Record<Access, string> = {
  public: 'No credentials.',
  read: 'Any logged-in user (admin, image-admin, readonly).',
  images: 'admin or image-admin.',
  admin: 'admin only.',
  node: 'A storage node, with a key signed with the lab secret for its name.',
  host: 'A PC, with the key the portal gave it for this task.',
};

/** Whether `v` holds a NUL character anywhere (PostgreSQL's text cannot, and no name or path needs one). */
function holdsNul(v: unknown, depth = 0): boolean {
  if (typeof v === 'string') return v.includes('\0');
  if (depth > 32 || v === null || typeof v !== 'object') return false;
  return Object.entries(v).some(([k, x]) => k.includes('\0') || holdsNul(x, depth + 1));
}

/**
 * What every route refuses before its own schema: a NUL character anywhere, and a numeric id
 * that is not one (the same 400 on SQLite and PostgreSQL, which would fail on either).
 */
function checkInput(ctx: Context): void {
  if (holdsNul(ctx.params) || holdsNul(ctx.query) || holdsNul(ctx.request.body)) throw new HttpError(400, 'a NUL character is not accepted in any field');
  const id = (ctx.params as Record<string, string>).id;
  if (id !== undefined && !/^[1-9][0-9]{0,14}$/.test(id)) throw new HttpError(400, `"${id}" is not an id (a positive whole number)`);
}

/** The OpenAPI content of a route's success answer: its JSON Schema, or a string of its media type. */
function responseContent(s: RouteSpec<z.ZodType, z.ZodType>): Record<string, { schema: object }> {
  if (typeof s.response === 'string') return { [s.responseType ?? 'application/octet-stream']: { schema: { type: 'string' } } };
  const { $schema: _dialect, ...schema } = z.toJSONSchema(s.response, { io: 'output', unrepresentable: 'any' });
  return { 'application/json': { schema } };
}

export class ApiRouter {
  private readonly specs: Array<RouteSpec<z.ZodType, z.ZodType>> = [];
  /** Routes whose mismatch was logged already (once each, not once per call). */
  private readonly warned = new Set<string>();

  constructor(
    private readonly router: Router,
    private readonly db: Db,
    private readonly strict = checkResponsesStrictly(),
  ) {}

  add<B extends z.ZodType = z.ZodUndefined, Q extends z.ZodType = z.ZodUndefined, R extends ResponseSpec = ResponseSpec>(
    spec: RouteSpec<B, Q, R>,
    handler: Handler<z.infer<B>, z.infer<Q>, R>,
  ): void {
    const route = `${spec.method.toUpperCase()} ${spec.path}`;
    // A declaration that contradicts itself is the programmer's mistake: refused at start.
    if ((spec.response === 'raw' || spec.response === 'stream') !== (spec.responseType !== undefined))
      throw new Error(`${route}: a raw or stream answer names its responseType, and only those do`);
    this.specs.push(spec);
    this.router[spec.method](spec.path, async (ctx) => {
      const caller = await requireAccess(ctx, this.db, spec.access);
      checkInput(ctx);
      const body = spec.body ? spec.body.parse(ctx.request.body ?? (spec.bodyType ? '' : {})) : undefined;
      const query = spec.query ? spec.query.parse(ctx.query) : undefined;
      const result: unknown = await handler(ctx, { body, query, params: ctx.params, caller: caller! } as RouteInput<z.infer<B>, z.infer<Q>>);
      // respond = false: the handler answered on the socket itself (an event stream).
      if (ctx.respond !== false && (ctx.body === undefined || ctx.body === null)) {
        this.checkAnswer(route, spec.response, result);
        if (result === undefined) ctx.status = spec.status ?? 204;
        else {
          ctx.status = spec.status ?? 200;
          ctx.body = result;
        }
      }
    });
  }

  /** Holds a handler's answer to its route's contract (strictly, or with a warning once). */
  private checkAnswer(route: string, response: ResponseSpec, result: unknown): void {
    let problem: string | undefined;
    if (typeof response === 'string') {
      if (result !== undefined) problem = `it answered a JSON body where its contract says ${response}`;
    } else if (result === undefined) problem = 'it answered nothing where its contract says a JSON body';
    else {
      // Strictly: the answer as it goes on the wire (JSON drops undefined fields, turns Dates to strings).
      const parsed = response.safeParse(this.strict ? JSON.parse(JSON.stringify(result)) : result);
      if (!parsed.success) problem = describeIssues(parsed.error);
    }
    if (problem === undefined) return;
    if (this.strict) throw new HttpError(500, `the answer of ${route} breaks its contract (shared/http/portal-contract.ts): ${problem}`);
    if (this.warned.has(route)) return;
    this.warned.add(route);
    log.warn({ route, problem }, 'an answer does not match its contract (sent as it is; further ones on this route are not logged)');
  }

  /** The OpenAPI 3.1 document of every route added. */
  openapi(): { openapi: string; paths: Record<string, unknown>; [k: string]: unknown } {
    const paths: Record<string, Record<string, unknown>> = {};
    for (const s of this.specs) {
      const path = s.path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
      const params = [...s.path.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
      const querySchema = s.query
        ? (z.toJSONSchema(s.query, { io: 'input', unrepresentable: 'any' }) as { properties?: Record<string, unknown>; required?: string[] })
        : {};
      const query = Object.entries(querySchema.properties ?? {}).map(([name, schema]) => ({
        name,
        in: 'query',
        required: (querySchema.required ?? []).includes(name),
        schema,
      }));
      // A route with no body answers 204 whatever its declared status (see add()).
      const ok = s.response === 'empty' ? '204' : String(s.status ?? 200);
      paths[path] ??= {};
      paths[path][s.method] = {
        summary: s.summary,
        description: `Who may call: ${ROLE_TEXT[s.access]}`,
        tags: [s.tag],
        security: SECURITY[s.access],
        ...(params.length || query.length ? { parameters: [...params, ...query] } : {}),
        ...(s.body
          ? {
              requestBody: {
                required: true,
                content: {
                  [s.bodyType ?? 'application/json']: {
                    schema: s.bodyType ? { type: 'string' } : z.toJSONSchema(s.body, { io: 'input', unrepresentable: 'any' }),
                  },
                },
              },
            }
          : {}),
        responses: {
          [ok]: ok === '204' ? { description: 'Done.' } : { description: 'Success.', content: responseContent(s) },
          default: {
            description: 'Any failure: a 4xx names what was wrong.',
            content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
          },
        },
      };
    }
    return {
      openapi: '3.1.0',
      info: { title: 'Shoal portal API', version: '1', description: 'Disk imaging for labs: hosts, groups, images, storage nodes, tasks and users.' },
      paths,
      components: {
        schemas: { Error: { type: 'object', properties: { error: { type: 'string' } }, required: ['error'] } },
        securitySchemes: {
          session: { type: 'apiKey', in: 'cookie', name: 'shoal_session', description: 'Set by POST /api/v1/session.' },
          token: { type: 'http', scheme: 'bearer', description: "An API token (POST /api/v1/tokens) or the data directory's admin-token." },
          labSecretKey: { type: 'http', scheme: 'bearer', description: 'A storage-node key signed with the lab secret.' },
          taskKey: { type: 'http', scheme: 'bearer', description: "The host's key for its task." },
        },
      },
    };
  }

  /** Method and path of every route added, for checking the document against the router. */
  routes(): Array<{ method: string; path: string }> {
    return this.specs.map((s) => ({ method: s.method, path: s.path }));
  }
}
