/**
 * A host of a task as the API and the dashboards show it, made from its row. Apart from the task
 * routes so that what every route is given (deps.ts) can name the live feed's type without
 * importing the routes.
 */
import type { Progress } from '../../shared/http/api.js';
import type { TaskHostRow } from '../db/tables.js';
import { iso } from '../db/times.js';

/** The one date helper lives in db/times.ts; re-exported for the task modules that take it from here. */
export { iso };

export type TaskHostView = ReturnType<typeof taskHostView>;

export function taskHostView(h: Pick<TaskHostRow, 'mac' | 'state' | 'progress' | 'error' | 'updated_ms'> & { name?: string | null }) {
  const p = h.progress ? (JSON.parse(h.progress) as Progress) : null;
  return {
    mac: h.mac,
    name: h.name ?? null,
    state: h.state,
    error: h.error,
    updatedAt: iso(h.updated_ms),
    progress: p && {
      piecesDone: p.piecesDone,
      piecesTotal: p.piecesTotal,
      bytesDone: p.bytesDone,
      bytesTotal: p.bytesTotal,
      downloadBytesPerSec: p.downloadBytesPerSec,
      uploadBytesPerSec: p.uploadBytesPerSec,
      downloadedBytes: p.downloadedBytes,
      uploadedBytes: p.uploadedBytes,
      fromStorageBytes: p.fromStorageBytes,
      peers: p.peers,
      ...(p.uploadId && { uploadId: p.uploadId }),
      ...(p.transport && { transport: p.transport }),
      ...(p.piecesByTransport && { piecesByTransport: p.piecesByTransport }),
    },
  };
}
