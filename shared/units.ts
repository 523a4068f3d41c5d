// Sizes carry their unit in the name so a reader never has to guess.
export const KIB = 1024;
export const MIB = 1024 * KIB;
export const GIB = 1024 * MIB;

/** Pieces are this long unless the capture asks otherwise (DESIGN.md: "The image"). */
export const DEFAULT_PIECE_LENGTH_BYTES = 4 * MIB;
/** zstd level: FOG's default (-6), so image sizes compare like for like. */
export const DEFAULT_ZSTD_LEVEL = 6;
/** Raw bytes checked at once for being all zero; zero blocks become zero runs. */
export const ZERO_SCAN_BLOCK_BYTES = 4 * KIB;
/** Partitions are laid out on this boundary by a resizable deploy, as every modern partitioner does. */
export const PARTITION_ALIGN_BYTES = 1 * MIB;
