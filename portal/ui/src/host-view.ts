// How a host is named and its image offered, the same in the hosts table and on a host's page.
import type { Host } from './types';

/** A host as an admin knows it: its name, or its MAC when it has none. */
export const hostLabel = (h: Pick<Host, 'name' | 'mac'>): string => h.name ?? h.mac;

/**
 * The images a host may be given, and the one it has even when that can no longer be picked
 * (retired, deleted): shown by name and marked so, never as a blank choice.
 */
export function hostImageChoices(h: Pick<Host, 'image' | 'imageGone'>, images: readonly string[]): Array<string | { value: string; text: string }> {
  if (!h.image || (images.includes(h.image) && !h.imageGone)) return [...images];
  const others = images.filter((i) => i !== h.image);
  return [{ value: h.image, text: h.imageGone ? `${h.image} (${h.imageGone})` : h.image }, ...others];
}
