// The portal's routes held to their answers' contract, over real HTTP on loopback: with
// SHOAL_CHECK_RESPONSES=1 a mismatch is a 500 naming the route and the field; without it the
// answer goes out as it is. Public routes only, so the router needs no database.
import { test } from '../suite.js';
import * as assert from 'uvu/assert';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import Koa from 'koa';
import Router from '@koa/router';
import { z } from 'zod';
import { errorMiddleware } from '../../shared/http/errors.js';
import { ApiRouter, checkResponsesStrictly } from '../../portal/http/api-router.js';
import type { Db } from '../../portal/db/open.js';

const Answer = z.object({ hosts: z.array(z.object({ mac: z.string(), state: z.enum(['queued', 'done']) })) });

/** A router with one route answering `answer`, and one answering 204; its base URL. */
async function serve(strict: boolean, answer: unknown): Promise<{ base: string; server: Server; api: ApiRouter }> {
  const router = new Router();
  const api = new ApiRouter(router, undefined as unknown as Db, strict);
  api.add({ method: 'get', path: '/hosts', summary: 'hosts', tag: 't', access: 'public', response: Answer }, async () => answer as z.input<typeof Answer>);
  api.add({ method: 'delete', path: '/hosts', summary: 'none', tag: 't', access: 'public', response: 'empty' }, async () => {});
  const app = new Koa().use(errorMiddleware()).use(router.routes());
  const server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, api };
}

test('strict: an answer that matches goes out; one that does not is a 500 naming the route and the field', async () => {
  const good = await serve(true, { hosts: [{ mac: 'a', state: 'done' }] });
  try {
    const r = await fetch(`${good.base}/hosts`);
    assert.is(r.status, 200);
    assert.equal(await r.json(), { hosts: [{ mac: 'a', state: 'done' }] });
    assert.is((await fetch(`${good.base}/hosts`, { method: 'DELETE' })).status, 204);
  } finally {
    good.server.close();
  }
  const bad = await serve(true, { hosts: [{ mac: 'a', state: 'lost' }] });
  try {
    const r = await fetch(`${bad.base}/hosts`);
    assert.is(r.status, 500);
    const { error } = (await r.json()) as { error: string };
    assert.match(error, /GET \/hosts/);
    assert.match(error, /hosts\.0\.state/);
  } finally {
    bad.server.close();
  }
});

test('not strict: a mismatch goes out as it is', async () => {
  const bad = await serve(false, { hosts: [{ mac: 'a', state: 'lost' }] });
  try {
    for (let i = 0; i < 2; i++) {
      const r = await fetch(`${bad.base}/hosts`);
      assert.is(r.status, 200);
      assert.equal(await r.json(), { hosts: [{ mac: 'a', state: 'lost' }] });
    }
  } finally {
    bad.server.close();
  }
});

/** A JSON Schema in the OpenAPI document, the keywords this test reads. */
interface JsonSchemaSeen {
  type?: string;
  $schema?: string;
  enum?: unknown[];
  items?: JsonSchemaSeen;
  properties?: Record<string, JsonSchemaSeen>;
}

test('OpenAPI: the answer schema, and a 204 for an empty answer', async () => {
  const { api, server } = await serve(true, {});
  server.close();
  const doc = api.openapi() as {
    paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: JsonSchemaSeen }> }> }>>;
  };
  const schema = doc.paths['/hosts']!.get!.responses['200']!.content!['application/json']!.schema;
  assert.is(schema.type, 'object');
  assert.equal(schema.properties!.hosts!.items!.properties!.state!.enum, ['queued', 'done']);
  assert.is(schema.$schema, undefined, 'no JSON Schema dialect inside an OpenAPI document');
  assert.ok(doc.paths['/hosts']!.delete!.responses['204']);
});

test('SHOAL_CHECK_RESPONSES=1 turns strict checking on, and nothing else does', () => {
  assert.ok(checkResponsesStrictly({ SHOAL_CHECK_RESPONSES: '1' }));
  assert.not.ok(checkResponsesStrictly({}));
  assert.not.ok(checkResponsesStrictly({ SHOAL_CHECK_RESPONSES: '0' }));
});

test.run();
