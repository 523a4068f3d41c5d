/** The one visible error message (ErrorAlert): a refusal's text exactly as the server gave it. */
export const alert = $state({ message: '' });

export function showError(err: unknown): void {
  alert.message = err instanceof Error ? err.message : String(err);
}

export function clearError(): void {
  alert.message = '';
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
