/**
 * `--help` (or `-h`) for the scripts: each one's usage is its header comment, printed as written,
 * so the two cannot drift apart.
 */
import { readFileSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';

type ParseArgsOptionsConfig = NonNullable<ParseArgsConfig['options']>;

/** The first block comment of the module at `moduleUrl`, without its ` * ` margins. */
export function headerUsage(moduleUrl: string): string {
  const source = readFileSync(fileURLToPath(moduleUrl), 'utf8');
  return (
    /\/\*\*\n([\s\S]*?)\*\//
      .exec(source)?.[1]
      ?.replace(/^ \* ?/gm, '')
      .trimEnd() ?? `see ${fileURLToPath(moduleUrl)}`
  );
}

/** Prints the usage and exits when the command line asks for it; call before parsing options. */
export function exitWithUsageIfAsked(moduleUrl: string, argv: string[] = process.argv.slice(2)): void {
  if (!argv.includes('--help') && !argv.includes('-h')) return;
  console.log(headerUsage(moduleUrl));
  process.exit(0);
}

/**
 * The script's options, parsed strictly after `--help` was looked for: an unknown option or a
 * missing value is one line naming it (and where the usage is), not a stack trace, before the
 * script starts anything.
 */
export function parseScriptArgs<const O extends ParseArgsOptionsConfig>(
  moduleUrl: string,
  options: O,
  argv: string[] = process.argv.slice(2),
): { values: ParsedValues<O> } {
  exitWithUsageIfAsked(moduleUrl, argv);
  try {
    return { values: parseArgs({ args: argv, options, strict: true }).values };
  } catch (err) {
    const file = fileURLToPath(moduleUrl);
    const name = basename(file, '.js') === 'main' ? basename(dirname(file)) : basename(file, '.js');
    console.error(`${name}: ${(err as Error).message} (run with --help for the options)`);
    process.exit(2);
  }
}

type ParsedValues<O extends ParseArgsOptionsConfig> = ReturnType<typeof parseArgs<{ options: O; strict: true }>>['values'];
