// The stock npm socket.io-client, driven by a test over stdin/stdout (one JSON object a line).
//
// Usage: node socketio_client.mjs http://127.0.0.1:PORT
// Commands (stdin):
//   {"op": "connect", "auth": {...}, "resume": true, "transports": [...], "headers": {...}}
//       connect to the /live namespace, closing the connection before, if any (transports: engine.io-client's default unless given;
//       headers: sent with every HTTP request and the WebSocket handshake); with
//       resume, reconnect by itself after a drop, sending as auth.cursor the id of the last
//       event it got (the `auth` callback is asked again at every attempt)
//   {"op": "emit", "event": "subscribe", "data": {...}}  emit, print the ack
//   {"op": "drop"}   close the underlying connection as a network failure would
//   {"op": "exit"}
// Output (stdout): {"type": "connected"}, {"type": "connect_error", "message", "data"},
//   {"type": "disconnect", "reason"}, {"type": "event", "event", "data"}, {"type": "ack", "data"}
import readline from "node:readline";
import { io } from "socket.io-client";

const base = process.argv[2];
let socket = null;
let lastId = null;

const out = (message) => process.stdout.write(JSON.stringify(message) + "\n");

function connect({ auth = {}, resume = false, transports, headers }) {
  socket?.disconnect(); // one connection at a time: the one before is closed
  socket = io(`${base}/live`, {
    forceNew: true,
    reconnection: resume,
    reconnectionDelay: 100,
    reconnectionDelayMax: 200,
    ...(transports ? { transports } : {}),
    ...(headers ? { extraHeaders: headers } : {}),
    auth: (give) => give(resume && lastId !== null ? { ...auth, cursor: lastId } : auth),
  });
  socket.on("connect", () => out({ type: "connected" }));
  socket.on("connect_error", (error) =>
    out({ type: "connect_error", message: error.message, data: error.data ?? null }),
  );
  socket.on("disconnect", (reason) => out({ type: "disconnect", reason }));
  socket.onAny((event, data) => {
    if (data && typeof data.id === "string") lastId = data.id;
    out({ type: "event", event, data });
  });
}

async function run(command) {
  switch (command.op) {
    case "connect":
      connect(command);
      break;
    case "emit":
      out({ type: "ack", data: await socket.timeout(10_000).emitWithAck(command.event, command.data) });
      break;
    case "drop":
      socket.io.engine.close();
      break;
    case "exit":
      socket?.disconnect();
      process.exit(0);
  }
}

const lines = readline.createInterface({ input: process.stdin });
lines.on("line", (line) => {
  run(JSON.parse(line)).catch((error) => out({ type: "error", message: String(error) }));
});
lines.on("close", () => {
  socket?.disconnect();
  process.exit(0);
});
