/**
 * `--help` (or `-h`) for the scripts: each one's usage is its header comment, printed as written,
 * so the two cannot drift apart.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The first block comment of the module at `moduleUrl`, without its ` * ` margins. */
export function headerUsage(moduleUrl: string): string {
  const source = readFileSync(fileURLToPath(moduleUrl), 'utf8');
  return /\/\*\*\n([\s\S]*?)\*\//.exec(source)?.[1]?.replace(/^ \* ?/gm, '').trimEnd() ?? `see ${fileURLToPath(moduleUrl)}`;
}

/** Prints the usage and exits when the command line asks for it; call before parsing options. */
export function exitWithUsageIfAsked(moduleUrl: string, argv: string[] = process.argv.slice(2)): void {
  if (!argv.includes('--help') && !argv.includes('-h')) return;
  console.log(headerUsage(moduleUrl));
  process.exit(0);
}
