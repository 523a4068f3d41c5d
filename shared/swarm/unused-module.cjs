// Stands in for utp-native in the PC bundle (scripts/build-pc-client.mjs): Shoal turns uTP off.
module.exports = {};
