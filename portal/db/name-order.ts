/**
 * The order people read host names in: "pc-9" before "pc-10", whatever the case. SQL's own order
 * is by character (pc-1, pc-10, pc-100, pc-11 …), which scatters a room of 200 PCs; so each host
 * keeps a sort key beside its name, where every run of digits is padded to a fixed width.
 */
const WIDTH = 12;

export function nameOrder(name: string | null | undefined): string | null {
  if (name === null || name === undefined) return null;
  return name.toLowerCase().replace(/\d+/g, (digits) => {
    const bare = digits.replace(/^0+(?=\d)/, '');
    // A run longer than the width (a serial number) keeps its digits; it still sorts after shorter ones.
    return bare.length >= WIDTH ? bare : bare.padStart(WIDTH, '0');
  });
}
