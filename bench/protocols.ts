/**
 * How a load client speaks to each system under test. All three carry the same JSON envelope
 * (`{ type, data }`); Socket.IO wraps it in its own packet (`42["msg", envelope]`). The Socket.IO
 * client is a minimal Engine.IO v4 speaker over `ws`, so all three are driven by the same client
 * code and the load costs the same per frame.
 */

/** A system under test. */
export type System = 'ours' | 'ws' | 'socketio';

export const SYSTEMS: readonly System[] = ['ours', 'ws', 'socketio'];

/** What a frame from the server is, to a load client. */
export const enum FrameKind {
  Control,
  Welcome,
  Chat,
}

/** One system's wire protocol, as seen by a load client. */
export interface Protocol {
  url(host: string, port: number, room: string): string;
  /** A chat message carrying `text`. */
  chat(text: string): string;
  /**
   * Classifies a frame; `welcomed` is whether the welcome was seen already. Returns a reply the
   * client must send (Engine.IO handshake and pong) through `reply`.
   */
  classify(data: Buffer, welcomed: boolean, reply: (text: string) => void): FrameKind;
}

const jsonProtocol: Protocol = {
  url: (host, port, room) => `ws://${host}:${port}/api/1/ws/bench/${room}`,
  chat: (text) => JSON.stringify({ type: 'chat', data: { text } }),
  classify: (_data, welcomed) => (welcomed ? FrameKind.Chat : FrameKind.Welcome),
};

const CH_0 = 0x30;
const CH_2 = 0x32;
const CH_4 = 0x34;

const socketIoProtocol: Protocol = {
  url: (host, port, room) => `ws://${host}:${port}/socket.io/?EIO=4&transport=websocket&room=${room}`,
  chat: (text) => `42${JSON.stringify(['chat', { text }])}`,
  classify(data, welcomed, reply) {
    const first = data[0];
    if (first === CH_4 && data[1] === CH_2) return welcomed ? FrameKind.Chat : FrameKind.Welcome;
    if (first === CH_0) reply('40'); // Engine.IO open: connect to the main namespace.
    else if (first === CH_2 && data.length === 1) reply('3'); // ping: pong.
    return FrameKind.Control;
  },
};

export const PROTOCOLS: Record<System, Protocol> = { ours: jsonProtocol, ws: jsonProtocol, socketio: socketIoProtocol };
