import { test } from '../suite.js';
import * as assert from 'uvu/assert';
import Koa from 'koa';
import { createServer } from 'node:http';
import { connect } from 'node:net';
import { Readable } from 'node:stream';
import { logAppErrors } from '../../shared/http/errors.js';
import { listen } from '../../shared/http/server.js';

/**
 * A reader that hangs up mid-answer (a PC stopping, a web seed reader closing early), against a
 * real Koa app streaming a large body. Returns what went to console.error (Koa's default printer).
 */
async function hangUpMidAnswer(withLog: boolean): Promise<string[]> {
  const app = new Koa();
  if (withLog) logAppErrors(app, 'test');
  // Settled a little after the answer closed, once Koa has had its error (a listener on the app
  // would itself turn Koa's printer off).
  let closed!: () => void;
  const settled = new Promise<void>((r) => (closed = r));
  app.use((ctx) => {
    let sent = 0;
    // 256 MiB offered, far more than the socket buffers hold: the write fails once the reader is gone.
    ctx.body = new Readable({
      read() {
        sent += 1 << 20;
        this.push(sent > 256 << 20 ? null : Buffer.alloc(1 << 20));
      },
    });
    ctx.res.on('close', () => setTimeout(closed, 200));
  });
  const printed: string[] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => void printed.push(args.join(' '));
  const handle = app.callback();
  const server = await listen(
    createServer((req, res) => void handle(req, res)),
    0,
    '127.0.0.1',
  );
  try {
    await new Promise<void>((resolve) => {
      const socket = connect(server.port, '127.0.0.1', () => socket.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n'));
      socket.once('data', () => {
        socket.resetAndDestroy();
        resolve();
      });
    });
    await settled;
  } finally {
    console.error = original;
    await server.close();
  }
  return printed;
}

test("Koa's own printer puts a reader's hang-up on stderr (what logAppErrors replaces)", async () => {
  const printed = await hangUpMidAnswer(false);
  assert.ok(
    printed.some((p) => /ECONNRESET|EPIPE/.test(p)),
    `printed: ${JSON.stringify(printed)}`,
  );
});

test('logAppErrors: a reader hanging up mid-answer prints nothing', async () => {
  assert.equal(await hangUpMidAnswer(true), []);
});

test.run();
