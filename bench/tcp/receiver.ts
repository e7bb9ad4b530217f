/**
 * Node receive paths over loopback TCP, receiving side: listens on 127.0.0.1, tells its parent the port over IPC,
 * and for each connection counts bytes until the expected total has arrived, then answers one
 * byte so the sender can stop its clock. A second port does the same but keeps the bytes, copying
 * them into a new SharedArrayBuffer as they come (what a worker receiving a value does: the
 * first touch of fresh memory is the cost here); a third copies them into one buffer touched before
 * the first connection (what a receiver with pooled, pre-touched memory would do). A fourth port
 * echoes every byte back (the
 * round-trip floor). Exits when its parent goes away.
 */
import net from "node:net";

const expected = Number(process.argv[2]);
/** One buffer, touched once up front and reused by every connection to the third port. */
const touched = Buffer.alloc(expected, 1);
const receive = (keep: "count" | "fresh" | "touched") => (socket: net.Socket) => {
  let got = 0;
  const kept = keep === "fresh" ? new Uint8Array(new SharedArrayBuffer(expected)) : keep === "touched" ? touched : undefined;
  socket.on("data", (chunk) => {
    kept?.set(chunk.subarray(0, Math.max(0, Math.min(chunk.length, expected - got))), got);
    got += chunk.length;
    if (got >= expected) socket.end(Buffer.of(got === expected ? 1 : 0));
  });
  socket.on("error", () => socket.destroy());
};
const server = net.createServer(receive("count"));
const keeper = net.createServer(receive("fresh"));
const toucher = net.createServer(receive("touched"));
const echo = net.createServer((socket) => {
  socket.setNoDelay(true);
  socket.on("data", (chunk) => socket.write(chunk));
  socket.on("error", () => socket.destroy());
});
const portOf = (s: net.Server) => (s.address() as net.AddressInfo).port;
server.listen(0, "127.0.0.1", () =>
  keeper.listen(0, "127.0.0.1", () =>
    toucher.listen(0, "127.0.0.1", () =>
      echo.listen(0, "127.0.0.1", () => process.send!({ port: portOf(server), keepPort: portOf(keeper), touchedPort: portOf(toucher), echoPort: portOf(echo) })),
    ),
  ),
);
process.on("disconnect", () => process.exit(0));
