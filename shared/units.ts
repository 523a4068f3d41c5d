// Sizes carry their unit in the name so a reader never has to guess.
export const KIB = 1024;
export const MIB = 1024 * KIB;
export const GIB = 1024 * MIB;

/**
 * Pieces are this long unless the capture asks otherwise. DESIGN.md says 4 MiB; 1 MiB measured
 * faster in every swarm benchmark (README, "Where this differs from DESIGN.md"): a piece reaches its second PC only
 * once its first holds it whole, so the ramp-up at the start and the tail at the end last a few
 * piece times, and a smaller piece means more of them to trade.
 */
export const DEFAULT_PIECE_LENGTH_BYTES = 1 * MIB;
/** zstd level: FOG's default (-6), so image sizes compare like for like. */
export const DEFAULT_ZSTD_LEVEL = 6;
/** Raw bytes checked at once for being all zero; zero blocks become zero runs. */
export const ZERO_SCAN_BLOCK_BYTES = 4 * KIB;
/** Partitions are laid out on this boundary by a resizable deploy, as every modern partitioner does. */
export const PARTITION_ALIGN_BYTES = 1 * MIB;
