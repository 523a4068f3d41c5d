import { ShoalError } from '../errors.js';

// Image names become directory names in a store: nothing that could climb out of it or hide.
export const IMAGE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function assertImageName(name: string): string {
  if (name.includes('/') || name.includes('\\') || name.includes('..') || !IMAGE_NAME_PATTERN.test(name)) {
    throw new ShoalError(`invalid image name "${name}": use letters, digits, ".", "_" and "-" (no "/" or ".."), starting with a letter or digit`);
  }
  return name;
}
