// Stands in, in the PC bundle (scripts/build-pc-client.mjs), for modules a Shoal PC never runs:
// utp-native (uTP is off in every Shoal swarm) and the UPnP/NAT-PMP client (off on a lab's LAN).
module.exports = {};
