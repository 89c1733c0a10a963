// The WebSocket: requests matched to answers by id, live frames to a handler, and reconnection
// with backoff. The token travels as a subprotocol entry, not in the URL.

import { ApiError } from './api.js';

export class Live {
  constructor(token, { onFrame, onOpen, onState, onClosing }) {
    this.token = token;
    this.onFrame = onFrame;
    this.onOpen = onOpen;
    this.onState = onState;
    this.onClosing = onClosing;
    this.pending = new Map();
    this.nextId = 1;
    this.attempt = 0;
    this.stopped = false;
    this.ws = null;
    this.connect();
  }

  get open() { return this.ws && this.ws.readyState === WebSocket.OPEN && this.ready; }

  connect() {
    if (this.stopped) return;
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    this.ready = false;
    this.onState('connecting');
    const ws = new WebSocket(`${scheme}//${location.host}/api/v1/ws`, ['longhall', `longhall.bearer.${this.token}`]);
    this.ws = ws;
    ws.onmessage = (e) => {
      let frame;
      try { frame = JSON.parse(e.data); } catch { return; }
      if (frame.type === 'ready') {
        this.ready = true;
        this.attempt = 0;
        this.onState('open');
        this.onOpen(frame);
        return;
      }
      if (frame.type === 'closing') { this.onClosing(frame); return; }
      if (frame.id !== undefined && this.pending.has(frame.id)) {
        const { resolve, reject } = this.pending.get(frame.id);
        this.pending.delete(frame.id);
        if (frame.type === 'error') reject(new ApiError(0, frame.code, frame.message));
        else resolve(frame);
        return;
      }
      this.onFrame(frame);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ready = false;
      for (const { reject } of this.pending.values()) {
        reject(new ApiError(0, 'unreachable', 'The live connection was lost; Longhall is reconnecting.'));
      }
      this.pending.clear();
      if (this.stopped) return;
      this.onState('reconnecting');
      // 0.5 s, 1 s, 2 s … up to 10 s, with jitter so a restarted server isn't hit all at once.
      const delay = Math.min(10_000, 500 * 2 ** this.attempt) * (0.75 + Math.random() / 2);
      this.attempt += 1;
      setTimeout(() => this.connect(), delay);
    };
  }

  /** Sends a request frame; resolves with its answer, rejects with an ApiError. */
  request(frame) {
    if (!this.open) {
      return Promise.reject(new ApiError(0, 'unreachable', 'The live connection is down; Longhall is reconnecting.'));
    }
    const id = `w${this.nextId++}`;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.ws.send(JSON.stringify({ ...frame, id }));
    });
  }

  /** Reconnects now (after the network returns) instead of waiting for the backoff. */
  kick() {
    if (this.ws && this.ws.readyState === WebSocket.CLOSED) { this.attempt = 0; this.connect(); }
  }

  stop() {
    this.stopped = true;
    if (this.ws) this.ws.close(1000);
  }
}
