import { ApiError } from './api';

/**
 * The one visible error message: a refusal's text exactly as the server gave it. When the server
 * named the field at fault and a form shows that field (a `Field`), the words go beside it and
 * the field is marked and focused; otherwise they go to the page's alert (ErrorAlert).
 */
export const alert = $state({ message: '', field: '' });

/** The fields on screen now, by name: ErrorAlert leaves their errors to them. */
export const shownFields = $state<Record<string, number>>({});

export function showError(err: unknown): void {
  alert.message = err instanceof Error ? err.message : String(err);
  alert.field = err instanceof ApiError ? (err.field ?? '') : '';
}

export function clearError(): void {
  alert.message = '';
  alert.field = '';
}

/** Runs a change the user asked for; a failure lands in the alert. True when it worked. */
export async function attempt(change: () => Promise<unknown>): Promise<boolean> {
  try {
    await change();
    clearError();
    return true;
  } catch (err) {
    showError(err);
    return false;
  }
}

/** A form's onsubmit: runs `change` as attempt() does, in place of the browser's own submit. */
export function onSubmit(change: () => Promise<unknown>): (event: SubmitEvent) => Promise<boolean> {
  return (event) => {
    event.preventDefault();
    return attempt(change);
  };
}
