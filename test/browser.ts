/**
 * A real browser for the web UI tests: Debian's Chromium driven by playwright-core (the lab
 * network cannot download playwright's own browsers).
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';

const CHROMIUM = '/usr/bin/chromium';

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`the browser tests need Chromium at ${CHROMIUM}: apt-get install -y --no-install-recommends chromium`);
  }
  // --no-sandbox: the tests run as root, where Chromium refuses its sandbox.
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
}

export interface TestPage {
  page: Page;
  /** Console errors and uncaught exceptions, in order; a test usually ends by expecting none. */
  errors: string[];
}

/**
 * A page in a context of its own (its own cookies, so each page can be a different user), with
 * relative URLs resolved against `baseUrl`: `page.goto('/#/hosts')`. Close it with
 * `page.context().close()`.
 */
export async function newPage(browser: Browser, baseUrl: string): Promise<TestPage> {
  const context = await browser.newContext({ baseURL: baseUrl });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('console', (msg) => {
    // Chromium logs every 4xx answer to fetch as a console error; the app handles those answers
    // itself (a 401 before login, a refused change shown in the alert), so they are not errors.
    if (msg.type() === 'error' && !/^Failed to load resource: the server responded with a status of 4\d\d/.test(msg.text())) {
      errors.push(`console: ${msg.text()}`);
    }
  });
  page.on('pageerror', (err) => errors.push(`page error: ${err.message}`));
  return { page, errors };
}
