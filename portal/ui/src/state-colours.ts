// State colours: green done, blue running, amber seeding/booting, red failed, grey waiting. A
// table rather than a CSS rule per colour: the states are data, and each colour is two variables.

type Colour = 'green' | 'blue' | 'amber' | 'red' | 'grey';

const COLOURS: Record<string, Colour> = {
  done: 'green',
  ok: 'green',
  online: 'green',
  running: 'blue',
  active: 'blue',
  seeding: 'amber',
  booting: 'amber',
  pending: 'amber',
  failed: 'red',
  offline: 'red',
};

/** The style that gives an element its state's colour as --state and --state-bg (grey if unknown). */
export function stateColours(state: string): string {
  const c = COLOURS[state] ?? 'grey';
  return `--state: var(--${c}); --state-bg: var(--${c}-bg)`;
}
