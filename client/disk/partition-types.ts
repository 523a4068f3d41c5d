/**
 * Partitions a resizable deploy keeps at their captured size whatever their filesystem:
 * firmware and recovery partitions are sized by what installs into them, not by the disk.
 */
const FIXED_TYPES = new Set([
  'c12a7328-f81f-11d2-ba4b-00a0c93ec93b', // EFI system
  'de94bba4-06d1-4d40-a16a-bfd50179d6ac', // Windows recovery
  'e3c9e316-0b5c-4db8-817d-f92df00215ae', // Microsoft reserved
  '21686148-6449-6e6f-744e-656564454649', // BIOS boot (GRUB)
  '0657fd6d-a4ab-43c4-84e5-0933c84b4f4f', // Linux swap
  'ef', // EFI system (MBR)
  '27', // Windows recovery (MBR)
  '82', // Linux swap (MBR)
]);

export const isFixedType = (type: string): boolean => FIXED_TYPES.has(type.toLowerCase());
