/**
 * Every portal route is declared here with what it accepts and who may call it, and the OpenAPI
 * document is made from those declarations: the document cannot drift from the routes, and no
 * route can forget its role check or its body's schema.
 */
import type Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { HttpError } from '../../shared/http/errors.js';
import { requireAccess, type Access, type Caller } from '../access/auth.js';
import type { Db } from '../db/open.js';

type Method = 'get' | 'post' | 'patch' | 'put' | 'delete';

export interface RouteSpec<B extends z.ZodType, Q extends z.ZodType> {
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
  /** What the success answer is, when it is not JSON. */
  responseType?: string;
}

export interface RouteInput<B, Q> {
  body: B;
  query: Q;
  params: Record<string, string>;
  /** The logged-in user for read/images/admin routes. */
  caller: Caller;
}

type Handler<B, Q> = (ctx: Context, input: RouteInput<B, Q>) => Promise<unknown>;

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

export class ApiRouter {
  private readonly specs: Array<RouteSpec<z.ZodType, z.ZodType>> = [];

  constructor(
    private readonly router: Router,
    private readonly db: Db,
  ) {}

  add<B extends z.ZodType = z.ZodUndefined, Q extends z.ZodType = z.ZodUndefined>(spec: RouteSpec<B, Q>, handler: Handler<z.infer<B>, z.infer<Q>>): void {
    this.specs.push(spec);
    this.router[spec.method](spec.path, async (ctx) => {
      const caller = await requireAccess(ctx, this.db, spec.access);
      checkInput(ctx);
      const body = spec.body ? spec.body.parse(ctx.request.body ?? (spec.bodyType ? '' : {})) : undefined;
      const query = spec.query ? spec.query.parse(ctx.query) : undefined;
      const result = await handler(ctx, { body, query, params: ctx.params, caller: caller! } as RouteInput<z.infer<B>, z.infer<Q>>);
      // respond = false: the handler answered on the socket itself (an event stream).
      if (ctx.respond !== false && (ctx.body === undefined || ctx.body === null)) {
        if (result === undefined) ctx.status = spec.status ?? 204;
        else {
          ctx.status = spec.status ?? 200;
          ctx.body = result;
        }
      }
    });
  }

  /** The OpenAPI 3.1 document of every route added. */
  openapi(): object {
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
      const ok = String(s.status ?? 200);
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
          [ok]: ok === '204' ? { description: 'Done.' } : { description: 'Success.', content: { [s.responseType ?? 'application/json']: { schema: {} } } },
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
