export { PeerTransport, parseHostPort } from './peer-transport.ts';
export type { HostPort, TransportObserver, TransportOptions } from './peer-transport.ts';
export { FrameDecoder, FrameError, FrameKind, PROTOCOL_VERSION, encodeFrame, packValue } from './frame-codec.ts';
export type { FrameRejection } from './frame-codec.ts';
export { validateMessage } from './message-validation.ts';
