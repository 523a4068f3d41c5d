/**
 * Success said where the eye is: a short message at the bottom of the screen, read out by screen
 * readers (a polite live region), gone after a few seconds; an inline change offers Undo.
 */
export interface Toast {
  id: number;
  message: string;
  undo?: () => Promise<unknown>;
}

export const toasts = $state<Toast[]>([]);
let next = 1;
const SHOWN_MS = 6000;

export function toast(message: string, undo?: () => Promise<unknown>): void {
  const id = next++;
  toasts.push({ id, message, undo });
  // Bounded: at most four on screen, the oldest goes first.
  if (toasts.length > 4) toasts.shift();
  setTimeout(() => dismiss(id), undo ? SHOWN_MS * 2 : SHOWN_MS);
}

export function dismiss(id: number): void {
  const i = toasts.findIndex((t) => t.id === id);
  if (i >= 0) toasts.splice(i, 1);
}
