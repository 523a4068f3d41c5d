/**
 * A real browser for the web UI tests: Debian's Chromium driven by playwright-core (the lab
 * network cannot download playwright's own browsers).
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium, type Browser, type Page } from 'playwright-core';

const CHROMIUM = '/usr/bin/chromium';

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`the browser tests need Chromium at ${CHROMIUM}: apt-get install -y --no-install-recommends chromium`);
  }
  // --no-sandbox: the tests run as root, where Chromium refuses its sandbox.
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
}

export interface Viewport {
  width: number;
  height: number;
}
/** The two screens the portal is tried on: a lab admin's desktop and a phone. */
export const DESKTOP: Viewport = { width: 1440, height: 900 };
export const PHONE: Viewport = { width: 390, height: 844 };

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
export async function newPage(browser: Browser, baseUrl: string, viewport: Viewport = DESKTOP): Promise<TestPage> {
  const context = await browser.newContext({ baseURL: baseUrl, viewport, ...(viewport.width < 600 && { isMobile: true, hasTouch: true }) });
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

/** A page of its own (own cookies), logged in as `user` through the login form. */
export async function loggedIn(browser: Browser, baseUrl: string, user: string, password: string, viewport: Viewport = DESKTOP) {
  const { page, errors } = await newPage(browser, baseUrl, viewport);
  await page.goto('/');
  await page.getByTestId('login-username').fill(user);
  await page.getByTestId('login-password').fill(password);
  await page.getByTestId('login-submit').click();
  await page.getByTestId('nav-home').waitFor();
  return { page, errors, id: (s: string) => page.getByTestId(s) };
}

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

interface AxeResult {
  violations: Array<{ id: string; impact: string | null; help: string; nodes: Array<{ target: unknown[] }> }>;
}

/**
 * axe-core's serious and critical violations on the page as it is now (WCAG 2 A and AA rules,
 * colour contrast among them), one line each; an empty list is a pass.
 */
export async function seriousA11yViolations(page: Page): Promise<string[]> {
  // Evaluated through the debugging protocol: the portal's Content-Security-Policy (rightly) refuses inline scripts.
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(axeSource);
  const result = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run: (ctx: Document, opts: object) => Promise<unknown> } }).axe;
    return axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] } });
  });
  return (result as AxeResult).violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map(
      (v) =>
        `${v.id} (${v.impact}): ${v.help} at ${v.nodes
          .map((n) => JSON.stringify(n.target))
          .slice(0, 3)
          .join(', ')}`,
    );
}

/** How many CSS pixels the page is wider than its viewport (0: no horizontal scrolling). */
export const horizontalOverflow = (page: Page): Promise<number> =>
  page.evaluate(() => Math.max(0, document.documentElement.scrollWidth - document.documentElement.clientWidth));

/**
 * Follows a link of the main navigation. On a phone the less used pages sit behind the "More"
 * button; it is opened first when the link is not on screen.
 */
export async function openNav(page: Page, testid: string): Promise<void> {
  const link = page.getByTestId(testid);
  if (!(await link.isVisible())) await page.getByTestId('nav-more').click();
  await link.click();
}
