/**
 * The one way Shoal makes a webtorrent client, for PCs and storage nodes alike: for a lab's LAN,
 * so no DHT, local discovery, uTP or port mapping (peers come from Shoal's trackers and tickets);
 * connections piped straight to their wires (direct-pipes.ts), which parse their reads without
 * joining them (wire-reads.ts); an upload limit kept by the
 * UploadPacer, not webtorrent's own throttle (upload-pacer.ts says why).
 */
import WebTorrent from 'webtorrent';
import { useDirectPipes } from './direct-pipes.js';
import { useWireReads } from './wire-reads.js';
import { UploadPacer } from './upload-pacer.js';

export interface LanClientOptions {
  /** Whether torrents announce to trackers (their announce URLs come with each torrent). */
  announce: boolean;
  /** Whether torrents fetch from their BEP 19 web seeds too. */
  webSeeds: boolean;
  /** The BitTorrent port; 0 or absent: any free one. */
  port?: number;
  peerId?: string;
  uploadLimitBytesPerSec?: number;
  downloadLimitBytesPerSec?: number;
}

/** The client, and its pacer when uploads are limited (attach it to each torrent added; stop it at the end). */
export function lanClient(o: LanClientOptions): { client: WebTorrent; pacer: UploadPacer | undefined } {
  const upLimit = o.uploadLimitBytesPerSec ?? -1;
  const pacer = upLimit > 0 ? new UploadPacer(upLimit) : undefined;
  useDirectPipes();
  useWireReads();
  const client = new WebTorrent({
    dht: false,
    lsd: false,
    utp: false,
    natUpnp: false,
    natPmp: false,
    tracker: o.announce ? {} : false,
    webSeeds: o.webSeeds,
    torrentPort: o.port ?? 0,
    downloadLimit: o.downloadLimitBytesPerSec ?? -1,
    uploadLimit: pacer ? -1 : upLimit,
    ...(o.peerId && { peerId: o.peerId }),
  });
  return { client, pacer };
}
