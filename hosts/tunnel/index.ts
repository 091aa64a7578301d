// The data-plane tunnel, as the host agent uses it: TunnelListener on the destination (one per
// agent), openSourceTunnel on the source (one per outgoing migration).
export { TunnelListener, DestinationTunnel } from './listener.ts';
export type { TunnelListenerOptions, ExpectOptions, Expectation } from './listener.ts';
export { openSourceTunnel, SourceTunnel } from './source.ts';
export type { SourceTunnelOptions } from './source.ts';
export type { TunnelResult } from './tunnel-end.ts';
export { TunnelError, isTunnelError, TUNNEL_ERROR_CODES } from './errors.ts';
export type { TunnelBytes, TunnelErrorCode, TunnelSide } from './errors.ts';
export type { TunnelEvent, TunnelEventHandler, RefusalReason } from './events.ts';
export type { TunnelTls } from './tls.ts';
export { DEFAULT_MAX_CONNECTIONS_PER_PEER } from './peer-limit.ts';
