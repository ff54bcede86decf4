import { ChatState } from './chat-state';
import { parseEvent } from './events';
import { reconnectDelay } from './reconnect';
import { View } from './view';

/*
 * The browser client's entry point: one WebSocket to the page's own origin in JSON mode
 * (mychat.json.v1), reconnecting with backoff after a loss and resuming the rooms the user was in.
 */

/** The WebSocket subprotocol the client speaks: one JSON event per text frame. */
const SUBPROTOCOL = 'mychat.json.v1';

let socket: WebSocket | undefined;
let attempt = 0;
let timer: number | undefined;
let countdown: number | undefined;

const state = new ChatState(
  (frame) => {
    if (socket?.readyState === WebSocket.OPEN) socket.send(frame);
  },
  () => view.schedule(),
);
const view = new View(state, { reconnect: () => connect() });

function connect(): void {
  window.clearTimeout(timer);
  window.clearInterval(countdown);
  timer = countdown = undefined;
  if (socket !== undefined && socket.readyState !== WebSocket.CLOSED) return;
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/`;
  const ws = new WebSocket(url, SUBPROTOCOL);
  socket = ws;
  view.offlineMessage = 'Connecting…';
  ws.addEventListener('open', () => state.connected());
  ws.addEventListener('message', (message: MessageEvent) => {
    if (typeof message.data !== 'string') return;
    const event = parseEvent(message.data);
    if (event === undefined) return;
    state.apply(event);
    if (event.type === 'reply' && event.command === 'NICK') attempt = 0;
  });
  ws.addEventListener('close', (close: CloseEvent) => {
    if (socket !== ws) return;
    socket = undefined;
    const why = close.code === 1000 || close.code === 1001 ? 'The server closed the connection.' : `The connection was lost (${close.code}).`;
    if (state.quitting) {
      state.disconnected(why);
      return;
    }
    const delay = reconnectDelay(attempt++);
    const due = Date.now() + delay;
    const tell = (): void => {
      view.offlineMessage = `${why} Reconnecting in ${Math.max(1, Math.ceil((due - Date.now()) / 1000))} s.`;
      view.schedule();
    };
    tell();
    state.disconnected(why);
    countdown = window.setInterval(tell, 1000);
    timer = window.setTimeout(connect, delay);
  });
}

// Back online (a laptop waking up, Wi-Fi returning): try at once instead of waiting out the backoff.
window.addEventListener('online', () => {
  if (socket === undefined && !state.quitting) connect();
});

connect();
view.render();
