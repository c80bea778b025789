// How the tests start Debian's Chromium: headless, as root without its
// sandbox, and with every background connection off (this machine's closed
// network refuses them, many at a time, and slows each start).
export const LAUNCH_ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];
