/** Parsers of the command line's values: a bad one is refused by name before anything runs. */
import { InvalidArgumentError } from 'commander';

export const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

export const positiveInt = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('must be a positive integer');
  return n;
};

export const nonNegative = (v: string): number => {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError('must be a non-negative number');
  return n;
};

export const port = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 65_535) throw new InvalidArgumentError('must be a port number, 1 to 65535');
  return n;
};

/** zstd's levels; 20 to 22 ("ultra") cost much memory on the PC that unpacks. */
export const zstdLevel = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 22) throw new InvalidArgumentError('must be a zstd level, 1 to 22');
  return n;
};
