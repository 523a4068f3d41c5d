/**
 * The rules the swarm model follows, taken from the code that runs them: imported where the code
 * exports them, mirrored (with the file they come from) where its numbers are private.
 *
 * Which piece a PC asks for next — client/swarm/piece-order.ts:
 * - it walks the image in its own order, from the start of its share (the i-th N-th of the pieces
 *   for PC i of N, dealt round the rooms: portal/tasks/pc-routes.ts), its room part first (`pieceWalk`);
 * - it asks the storage nodes only for pieces of its share that no connected PC holds; the rest it
 *   takes from PCs, unless no byte has come from a PC for STARVING_S (then any piece no PC holds);
 * - rooms: a PC of another room is asked only for pieces of the asking PC's room part
 *   (`roomParts`, as the portal gives them) that no connected PC of its own room holds, unless the
 *   asking PC is starving or underfed (the PCs feed it under UNDERFED_SHARE of its best rate);
 * - room to spare: once its share is in, a PC that the PCs feed under UNDERFED_SHARE of its best
 *   1 s rate (client/swarm/feed-meter.ts), when the nodes have room (`nodesHaveRoom`: the rate its
 *   share came at times the group's size ≥ 1.5 × its best rate), asks a node for EXTRA_PIECES at a
 *   time from the far end of its order (of its room part, when the group reaches beyond its
 *   room), or for the part of a begun piece no PC was asked for yet;
 * - a PC with no share (more PCs than pieces) never measures a share rate, so it never asks for
 *   extras (the code's shareRate stays 0).
 * Which peers a PC is given — tracker/peer-order.ts (`orderPeers`, imported): same /24 first, and
 * among those finished PCs and seeders first, ties shuffled; bittorrent-tracker's numwant of 50;
 * re-announces every 10 s while the swarm has unfinished PCs (tracker/server.ts BUSY_INTERVAL_MS);
 * the seeders come in the ticket (client/swarm/swarm-deploy.ts). webtorrent dials while it has
 * fewer than 55 connections (its maxConns) and accepts every incoming one; one connection per
 * pair (client/swarm/duplicate-wires.ts).
 * Upload slots: Shoal unchokes every interested peer (UNCHOKE_ALL, shared/image/torrent.ts), and
 * the lab's PCs and seeder set no upload limit, so no upload pacer: a node's uplink is shared by
 * TCP among the connections that have requests on it (max-min, max-min.ts).
 * Requests in flight: webtorrent keeps 0.5 to 1 s of each wire's rate requested on every wire
 * that holds something wanted (PIPELINE_MIN/MAX_DURATION in webtorrent/lib/torrent.js), the first
 * pieces in the PC's order, and asks a block of nobody else once it is asked (no end game). The
 * model asks whole pieces, at least one per wire, more on a fast one; a wire with nothing else to
 * ask for takes the rest of a piece begun on another wire beyond that wire's 0.75 s (the blocks
 * webtorrent has not reserved yet).
 * Web seeds are added only after 15 s without a piece (swarm-deploy.ts); in the model the seeder is
 * always connected and "starving" already sends a PC there after 2 s, so web seeds are left out.
 * peer-ban.ts and the download limit change nothing here: no peer is corrupt, no PC has a limit.
 */
export { nodesHaveRoom, pieceWalk, shareRange } from '../../client/swarm/piece-order.js';
export { orderPeers } from '../../tracker/peer-order.js';
export { roomParts, sharesByRoom } from '../../shared/swarm/room-shares.js';

/** client/swarm/piece-order.ts: a PC outside this PC's /24 is asked only for what no connected PC inside it holds. */
export const ROOM_FIRST = true;
/** client/swarm/piece-order.ts: NUDGE_MS, STARVING_MS, EXTRA_PIECES. */
export const NUDGE_S = 0.5;
export const STARVING_S = 2;
export const EXTRA_PIECES = 2;
/** client/swarm/feed-meter.ts: RATE_WINDOW_MS, UNDERFED_SHARE. */
export const RATE_WINDOW_S = 1;
export const UNDERFED_SHARE = 0.8;
/** tracker/server.ts BUSY_INTERVAL_MS; bittorrent-tracker's DEFAULT_ANNOUNCE_PEERS. */
export const ANNOUNCE_INTERVAL_S = 10;
export const NUMWANT = 50;
/** webtorrent's maxConns (index.js). */
export const MAX_CONNS = 55;
/** webtorrent: between PIPELINE_MIN_DURATION (0.5 s) and PIPELINE_MAX_DURATION (1 s) of a wire's rate. */
export const PIPELINE_S = 0.75;
/** The block a PC asks for, a sixteenth of a piece (16 to 64 KiB): the least it can have asked of a wire. */
export { swarmBlockBytes } from '../../client/swarm/piece-buffers.js';
