/**
 * `shoal start` keeps its three processes up: one killed is named with its signal and started
 * again on its port; one that cannot come back stops the server with a non-zero exit that names
 * it. Real processes on loopback; the restart wait is shortened (SHOAL_RESTART_BASE_MS).
 */
import { test } from '../suite.js';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { cleanup, workDir } from './fixtures.js';
import { killAll, shoalBackground, waitFor } from './processes.js';
import { loopbackServer } from '../../scripts/loopback-server.js';

const childPid = (parent: number, script: string): number => {
  const out = execFileSync('pgrep', ['-P', String(parent), '-f', script], { encoding: 'utf8' }).trim();
  return Number(out.split('\n')[0]);
};
const up = async (url: string): Promise<true | undefined> => ((await fetch(url).catch(() => undefined))?.ok ? true : undefined);

test('a killed child comes back on its port, named with its signal; one that cannot come back stops the server, non-zero, named', async () => {
  const dir = workDir();
  const srv = await loopbackServer({ data: join(dir, 'data') });
  const { port, seederPort } = srv;
  let stderr = '';
  const { child, exited } = shoalBackground(srv.args, { SHOAL_RESTART_BASE_MS: '200' });
  let stdout = '';
  child.stderr!.on('data', (d) => (stderr += d));
  child.stdout!.on('data', (d) => (stdout += d));
  const seeder = `http://127.0.0.1:${seederPort}/healthz`;
  let blocker: Server | undefined;
  try {
    await waitFor('the server up', 30_000, async () => (/Ctrl-C stops all three/.test(stdout) ? true : undefined));
    const first = childPid(child.pid!, 'seeder/main.js');
    process.kill(first, 'SIGKILL');
    await waitFor('the seeder back', 30_000, async () => (/the seeder is back at/.test(stderr) ? up(seeder) : undefined)).catch((err: Error) => {
      throw new Error(`${err.message}; shoal start said:\n${stderr}`);
    });
    assert.match(stderr, /shoal: the seeder was killed by SIGKILL; starting it again in 0\.2 s \(restart 1 of at most 5/);
    assert.is.not(childPid(child.pid!, 'seeder/main.js'), first, 'a new seeder process');
    assert.ok(await up(`http://127.0.0.1:${port}/healthz`), 'the portal stayed up');
    // Its port taken while it is down: it cannot come back, and the server says so and stops. The
    // supervisor starts it again 0.2 s after it dies, so the new seeder may win the port: then it
    // is killed too and the port taken again (at most 3 tries; each is one more restart of the 5).
    for (let tries = 1; !blocker; tries++) {
      process.kill(childPid(child.pid!, 'seeder/main.js'), 'SIGKILL');
      await waitFor('the seeder gone', 10_000, async () => ((await up(seeder)) ? undefined : true));
      const b = createServer();
      const taken = await new Promise<boolean>((r) => {
        b.once('error', () => r(false));
        b.listen(seederPort, '0.0.0.0', () => r(true));
      });
      if (taken) blocker = b;
      else if (tries === 3) throw new Error(`the restarted seeder took port ${seederPort} back first, 3 times`);
      else await waitFor('the seeder back on its port', 10_000, async () => ((await up(seeder)) ? true : undefined));
    }
    const end = await Promise.race([exited, new Promise<undefined>((r) => setTimeout(r, 60_000))]);
    assert.ok(end, `shoal start still running after the seeder failed to start 5 times:\n${stderr}`);
    assert.is.not(end.code, 0, end.stderr);
    assert.match(end.stderr, /the seeder could not start again .*after 5 restarts in 10 minutes: the server cannot go on; the others were stopped/);
    assert.not.ok(await up(`http://127.0.0.1:${port}/healthz`), 'the portal was stopped');
  } finally {
    blocker?.close();
    await killAll();
    cleanup();
  }
});

test.run();
