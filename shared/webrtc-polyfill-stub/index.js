// No WebRTC in Shoal: lab PCs and seeders talk BitTorrent over TCP. webtorrent and
// bittorrent-tracker import these names and leave WebRTC off when they are undefined.
export const RTCPeerConnection = undefined;
export const RTCSessionDescription = undefined;
export const RTCIceCandidate = undefined;
export default { RTCPeerConnection, RTCSessionDescription, RTCIceCandidate };
