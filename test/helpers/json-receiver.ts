import { startReceiver, type Receiver } from './receiver.js';

export type JsonReceiver = Receiver;

/** The receiver answering as chat robots do ({errcode: 0}), at the server's root URL. */
export function startJsonReceiver(reply: unknown = { errcode: 0, errmsg: 'ok' }): Promise<JsonReceiver> {
  return startReceiver({ reply, path: '' });
}
